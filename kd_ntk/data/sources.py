"""`load(name, split)`: a dataset split as numpy arrays plus metadata."""

import functools
import os

import numpy as np

from kd_ntk.data import idx
from kd_ntk.data.info import DatasetInfo  # noqa: F401  (re-exported)

FASHION_MNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "KD_NTK_FASHION_MNIST_DIR"
FASHION_MNIST_CLASSES = (
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
)
# Datasets read from IDX files rather than TFDS (unless source="tfds").
IDX_DATASETS = {"fashion_mnist": FASHION_MNIST_CLASSES}


def fashion_mnist_dir(data_dir: str | None = None) -> str:
  """The IDX folder: `data_dir`, $KD_NTK_FASHION_MNIST_DIR, or Debian's path."""
  return (
    data_dir or os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DEFAULT_DIR
  )


def data_location(
  name: str, data_dir: str | None = None, source: str | None = None
) -> dict[str, str]:
  """{"dataset", "source", "location"}: the real path of the folder `load` would
  read (IDX folder or TFDS data_dir), without reading it. Runs record it
  (data.json) so that a student or a resume on another copy is caught."""
  source = source or ("idx" if name in IDX_DATASETS else "tfds")
  if source == "idx":
    folder = fashion_mnist_dir(data_dir)
  else:
    folder = (
      data_dir
      or os.environ.get("TFDS_DATA_DIR")
      or os.path.join("~", "tensorflow_datasets")
    )
  folder = os.path.realpath(os.path.abspath(os.path.expanduser(folder)))
  return {"dataset": name, "source": source, "location": folder}


def check_images(images: np.ndarray, where: str) -> None:
  """Raises (one line) when images are not finite or all equal: such input would
  train into a NaN loss that reads like a divergence."""
  if images.size == 0:
    return
  if np.issubdtype(images.dtype, np.floating):
    bad = int(np.size(images) - np.count_nonzero(np.isfinite(images)))
    if bad:
      raise ValueError(
        f"{where}: {bad} pixel value(s) are NaN or infinite; the images are "
        "damaged: reinstall the data or point --data_dir at a good copy."
      )
  low, high = images.min().item(), images.max().item()
  if low == high:
    raise ValueError(
      f"{where}: every pixel of all {len(images)} images equals {low!r} "
      "(constant input: nothing to learn, and normalising it divides by "
      "zero); the files are blank or damaged: reinstall the data or point "
      "--data_dir at a good copy."
    )


def _load_idx(name: str, split: str, data_dir: str | None):
  directory = fashion_mnist_dir(data_dir)
  images_path, labels_path = idx.find_split_files(directory, split)
  stamp = tuple(os.stat(p).st_mtime_ns for p in (images_path, labels_path))
  images, labels, info = _read_idx_split(
    name,
    images_path=images_path,
    labels_path=labels_path,
    directory=directory,
    stamp=stamp,
  )
  return images.copy(), labels.copy(), info


@functools.lru_cache(maxsize=4)
def _read_idx_split(name, *, images_path, labels_path, directory, stamp):
  """Decoded arrays of one split, cached per process (a reproduction loads the
  same files for dozens of runs); `stamp` invalidates the entry if a file
  changes."""
  del stamp
  images = idx.read_idx(images_path)
  labels = idx.read_idx(labels_path)
  class_names = IDX_DATASETS[name]
  if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
    raise idx.IdxFormatError(
      f"{images_path} / {labels_path}: expected images (N, H, W) and labels (N,) "
      f"with the same N; got {images.shape} and {labels.shape}."
    )
  if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
    raise idx.IdxFormatError(
      f"{labels_path}: labels must lie in [0, {len(class_names)}); found range "
      f"[{labels.min()}, {labels.max()}]. The file is corrupt or not {name}."
    )
  check_images(images, images_path)
  info = DatasetInfo(
    name,
    len(class_names),
    images.shape[1:] + (1,),
    class_names,
    "idx",
    directory,
  )
  return images[..., None], labels.astype(np.int32), info


def load(
  name: str,
  split: str,
  data_dir: str | None = None,
  source: str | None = None,
):
  """Loads one split of a dataset into memory.

  Args:
    name: "fashion_mnist" (IDX files) or any TFDS image-classification dataset
      ("cifar10", "cifar100", ...).
    split: "train" or "test" (TFDS split strings such as "train[:10%]" work for
      TFDS sources).
    data_dir: the IDX folder for fashion_mnist, or the TFDS data_dir.
    source: None (IDX for fashion_mnist, TFDS otherwise), "idx" or "tfds".

  Returns:
    (images_NxHxWxC uint8, labels_N int32, DatasetInfo).

  Raises:
    FileNotFoundError / ValueError naming the path and the fix when the data is
    missing or corrupt.
  """
  source = source or ("idx" if name in IDX_DATASETS else "tfds")
  if source == "idx":
    if name not in IDX_DATASETS:
      raise ValueError(
        f"No IDX reader for {name!r}; IDX datasets: {sorted(IDX_DATASETS)}."
      )
    return _load_idx(name, split, data_dir)
  if source == "tfds":
    from kd_ntk.data import tfds_source  # Imports TensorFlow; only when asked.

    return tfds_source.load_tfds(name, split, data_dir)
  raise ValueError(f"source must be 'idx' or 'tfds'; got {source!r}.")
