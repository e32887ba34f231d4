"""The validation split: class-balanced, carved from training data, disjoint from
the examples trained on and from the test set."""

import numpy as np
import pytest

from kd_ntk.data import load, prepare_splits


def _raw_rows(images):
  return {img.tobytes() for img in images}


def test_validation_is_disjoint_balanced_and_leaves_the_subset_unchanged():
  plain = prepare_splits(
    "fashion_mnist", train_subset=600, subset_seed=3, test_subset=200
  )
  split = prepare_splits(
    "fashion_mnist",
    train_subset=600,
    subset_seed=3,
    test_subset=200,
    validation_size=300,
    validation_seed=1,
  )
  # Runs that never ask for validation train on exactly the same examples.
  np.testing.assert_array_equal(plain.train_indices, split.train_indices)
  np.testing.assert_array_equal(plain.train_images, split.train_images)
  assert len(split.validation_labels) == 300
  assert not set(split.train_indices) & set(split.validation_indices)
  assert (
    np.bincount(split.validation_labels, minlength=10).tolist() == [30] * 10
  )
  # Carved from the training file: each validation example is the raw training
  # image at its index (independent re-read), and the test split is the test file.
  raw_x, raw_y, _ = load("fashion_mnist", "train")
  np.testing.assert_array_equal(
    raw_y[split.validation_indices], split.validation_labels
  )
  renorm = (
    raw_x[split.validation_indices].astype(np.float32) / 255.0 - split.mean
  ) / split.std
  np.testing.assert_allclose(renorm, split.validation_images, atol=1e-6)
  test_x, _, _ = load("fashion_mnist", "test")
  assert not _raw_rows(raw_x[split.validation_indices]) & _raw_rows(test_x)


def test_without_subset_validation_is_removed_from_training():
  split = prepare_splits("fashion_mnist", classes=(0, 6), validation_size=200)
  _, raw_y, _ = load("fashion_mnist", "train")
  assert len(split.train_labels) + 200 == np.isin(raw_y, (0, 6)).sum()
  assert not set(split.train_indices) & set(split.validation_indices)
  assert np.bincount(split.validation_labels).tolist() == [100, 100]


def test_validation_that_does_not_fit_fails_before_work():
  with pytest.raises(ValueError, match="does not fit"):
    prepare_splits(
      "fashion_mnist", classes=(0, 6), train_subset=11000, validation_size=2000
    )
  with pytest.raises(ValueError, match="does not fit"):
    prepare_splits("fashion_mnist", validation_size=-1)
