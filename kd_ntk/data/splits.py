"""Train, validation and test splits normalised and ready for training.

The validation split is carved from the *training* data, class-balanced, and is
disjoint from the examples trained on and from the test set. With a training
subset (`train_subset` > 0) it is drawn from the training examples left out of
that subset, so the subset, hence every run that does not ask for validation,
is unchanged; without a subset it is removed from the training set.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from kd_ntk.data.pipeline import channel_stats, class_balanced_subset, normalize
from kd_ntk.data.sources import DatasetInfo, load


@dataclasses.dataclass(frozen=True)
class Splits:
  """Normalised float32 images (N, H, W, C) and int32 labels of both splits."""

  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  info: DatasetInfo
  mean: np.ndarray
  std: np.ndarray
  validation_images: np.ndarray | None = None
  validation_labels: np.ndarray | None = None
  # Indices into the (class-selected) training pool, for disjointness checks.
  train_indices: np.ndarray | None = None
  validation_indices: np.ndarray | None = None


def select_classes(train, test, info: DatasetInfo, classes: Sequence[int]):
  """Keeps the examples of `classes`, relabelled 0..k-1 (in that order)."""
  classes = [int(c) for c in classes]
  if (
    len(set(classes)) != len(classes)
    or len(classes) < 2
    or not all(0 <= c < info.num_classes for c in classes)
  ):
    raise ValueError(
      f"classes must be 2 or more distinct labels in [0, "
      f"{info.num_classes}); got {tuple(classes)}."
    )
  relabel = np.full(info.num_classes, -1, np.int32)
  relabel[classes] = np.arange(len(classes))
  out = []
  for images, labels in (train, test):
    keep = relabel[labels] >= 0
    out.append((images[keep], relabel[labels[keep]]))
  names = (
    tuple(info.class_names[c] for c in classes) if info.class_names else ()
  )
  return (
    out[0],
    out[1],
    dataclasses.replace(info, num_classes=len(classes), class_names=names),
  )


def prepare_splits(
  dataset: str,
  data_dir: str | None = None,
  *,
  train_subset: int = 0,
  subset_seed: int = 0,
  source: str | None = None,
  test_subset: int = 0,
  classes: Sequence[int] = (),
  validation_size: int = 0,
  validation_seed: int = 0,
) -> Splits:
  """Loads both splits, optionally keeps a class-balanced training subset, and
  normalises with the per-channel statistics of the (kept) training images.

  Args:
    dataset: name for `kd_ntk.data.load`.
    data_dir: data folder (IDX folder or TFDS data_dir); None for the default.
    train_subset: keep this many class-balanced training examples (0 = all).
    subset_seed: seed of the subset choice (fixed across students and teachers
      so that they see the same examples).
    source: None, "idx" or "tfds".
    test_subset: evaluate on the first this-many test examples (0 = all).
    classes: keep only these classes, relabelled 0..k-1 in the given order
      (e.g. (0, 6) turns Fashion-MNIST into T-shirt vs shirt); () keeps all.
    validation_size: carve this many class-balanced validation examples from the
      training pool, disjoint from the kept training examples (0 = none).
    validation_seed: seed of that choice.
  """
  train_x, train_y, info = load(dataset, "train", data_dir, source)
  test_x, test_y, _ = load(dataset, "test", data_dir, source)
  if classes:
    (train_x, train_y), (test_x, test_y), info = select_classes(
      (train_x, train_y), (test_x, test_y), info, classes
    )
  pool = len(train_y)
  if (
    validation_size < 0
    or validation_size + train_subset > pool
    or validation_size >= pool
  ):
    raise ValueError(
      f"validation_size={validation_size} with train_subset={train_subset} "
      f"does not fit the {pool} training examples; lower one of them."
    )
  keep = (
    class_balanced_subset(train_y, train_subset, subset_seed, info.num_classes)
    if train_subset
    else np.arange(pool)
  )
  val = np.zeros(0, np.int64)
  if validation_size:
    rest = np.setdiff1d(np.arange(pool), keep) if train_subset else keep
    val = rest[
      class_balanced_subset(
        train_y[rest], validation_size, validation_seed, info.num_classes
      )
    ]
    if not train_subset:
      keep = np.setdiff1d(keep, val)
  val_x, val_y = train_x[val], train_y[val]
  train_x, train_y = train_x[keep], train_y[keep]
  if test_subset:
    test_x, test_y = test_x[:test_subset], test_y[:test_subset]
  mean, std = channel_stats(train_x)
  return Splits(
    normalize(train_x, mean, std),
    train_y,
    normalize(test_x, mean, std),
    test_y,
    info,
    mean,
    std,
    normalize(val_x, mean, std),
    val_y,
    keep,
    val,
  )
