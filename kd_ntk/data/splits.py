"""Train and test splits normalised and ready for training, from one config block."""

import dataclasses
from typing import Optional, Sequence

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


def select_classes(train, test, info: DatasetInfo, classes: Sequence[int]):
  """Keeps the examples of `classes` and relabels them 0..k-1 (in that order)."""
  classes = [int(c) for c in classes]
  if len(set(classes)) != len(classes) or len(classes) < 2 or \
      not all(0 <= c < info.num_classes for c in classes):
    raise ValueError(f"classes must be 2 or more distinct labels in [0, "
                     f"{info.num_classes}); got {tuple(classes)}.")
  relabel = np.full(info.num_classes, -1, np.int32)
  relabel[classes] = np.arange(len(classes))
  out = []
  for images, labels in (train, test):
    keep = relabel[labels] >= 0
    out.append((images[keep], relabel[labels[keep]]))
  names = tuple(info.class_names[c] for c in classes) if info.class_names else ()
  return out[0], out[1], dataclasses.replace(info, num_classes=len(classes),
                                             class_names=names)


def prepare_splits(dataset: str, data_dir: Optional[str] = None, train_subset: int = 0,
                   subset_seed: int = 0, source: Optional[str] = None,
                   test_subset: int = 0, classes: Sequence[int] = ()) -> Splits:
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
  """
  train_x, train_y, info = load(dataset, "train", data_dir, source)
  test_x, test_y, _ = load(dataset, "test", data_dir, source)
  if classes:
    (train_x, train_y), (test_x, test_y), info = select_classes(
        (train_x, train_y), (test_x, test_y), info, classes)
  if train_subset:
    keep = class_balanced_subset(train_y, train_subset, subset_seed, info.num_classes)
    train_x, train_y = train_x[keep], train_y[keep]
  if test_subset:
    test_x, test_y = test_x[:test_subset], test_y[:test_subset]
  mean, std = channel_stats(train_x)
  return Splits(normalize(train_x, mean, std), train_y, normalize(test_x, mean, std),
                test_y, info, mean, std)
