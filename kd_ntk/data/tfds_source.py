"""Image-classification datasets from a prepared TFDS `data_dir`, as numpy.

Nothing is downloaded: the dataset must already be prepared in `data_dir`
(`tfds build cifar10 --data_dir=DIR` on a machine with internet access).
"""

import numpy as np

from kd_ntk.data.info import DatasetInfo


def _import_tfds():
  try:
    import tensorflow_datasets as tfds
  except ImportError as err:
    raise ImportError(
      "Loading TFDS datasets needs tensorflow and tensorflow-datasets: "
      "`pip install -r requirements.txt`. Fashion-MNIST works without them "
      "from IDX files."
    ) from err
  return tfds


def load_tfds(
  name: str, split: str, data_dir: str | None = None, chunk: int = 1024
):
  """Reads a whole TFDS split into memory.

  Iterates the dataset in chunks (`tfds.load(batch_size=-1)` was seen to abort
  inside `tfds.testing.mock_data`).

  Returns:
    (images_NxHxWxC uint8, labels_N int32, DatasetInfo).
  """
  tfds = _import_tfds()
  try:
    ds, builder_info = tfds.load(
      name,
      split=split,
      data_dir=data_dir,
      download=False,
      as_supervised=True,
      with_info=True,
      shuffle_files=False,
    )
  except Exception as err:  # TFDS raises several types for a missing dataset.
    raise FileNotFoundError(
      f"TFDS dataset {name!r} (split {split!r}) is not prepared in data_dir="
      f"{data_dir!r}: {err}. Prepare it where internet is available "
      f"(`tfds build {name} --data_dir=DIR`) and pass --data_dir=DIR."
    ) from err
  images, labels = [], []
  for image_batch, label_batch in tfds.as_numpy(ds.batch(chunk)):
    images.append(np.asarray(image_batch, np.uint8))
    labels.append(np.asarray(label_batch, np.int32))
  if not images:
    raise ValueError(f"TFDS split {name}:{split} in {data_dir!r} is empty.")
  images_nhwc = np.concatenate(images)
  if images_nhwc.ndim == 3:
    images_nhwc = images_nhwc[..., None]
  label_feature = builder_info.features["label"]
  info = DatasetInfo(
    name,
    int(label_feature.num_classes),
    tuple(images_nhwc.shape[1:]),
    tuple(label_feature.names),
    "tfds",
    str(data_dir or ""),
  )
  return images_nhwc, np.concatenate(labels), info
