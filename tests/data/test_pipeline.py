"""Batch pipeline: determinism, augmentation, subsets, sharding."""

import jax
import numpy as np
import pytest

from kd_ntk import data


def test_epoch_order_is_deterministic_and_changes_per_epoch():
  a = data.epoch_batch_indices(100, 10, seed=3, epoch=1)
  b = data.epoch_batch_indices(100, 10, seed=3, epoch=1)
  c = data.epoch_batch_indices(100, 10, seed=3, epoch=2)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert sorted(a.ravel()) == list(range(100))


def test_normalize_gives_zero_mean_unit_std():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
  mean, std = data.channel_stats(images)
  out = data.normalize(images, mean, std)
  np.testing.assert_allclose(out.reshape(-1, 3).mean(0), 0.0, atol=1e-5)
  np.testing.assert_allclose(out.reshape(-1, 3).std(0), 1.0, atol=1e-4)


def test_augment_crops_and_flips_without_changing_shape():
  images = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6, 1) + 1
  rng = np.random.default_rng(1)
  out = data.augment(images, rng, pad=2, flip=True)
  assert out.shape == images.shape
  assert not np.array_equal(out, images)
  flipped_only = data.augment(
    images, np.random.default_rng(0), pad=0, flip=True
  )
  for original, result in zip(images, flipped_only):
    assert np.array_equal(result, original) or np.array_equal(
      result, original[:, ::-1]
    )


def test_train_batches_reproducible_with_augmentation():
  images = (
    np.random.default_rng(0).normal(size=(40, 6, 6, 1)).astype(np.float32)
  )
  labels = np.arange(40) % 4
  run = lambda: list(
    data.train_batches(
      images, labels, 8, seed=5, epoch=2, augment_pad=2, augment_flip=True
    )
  )
  for (x1, y1), (x2, y2) in zip(run(), run()):
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_eval_batches_cover_every_example_once():
  labels = np.arange(23)
  seen = []
  for _, batch_labels, mask in data.eval_batches(np.zeros((23, 1)), labels, 10):
    assert len(batch_labels) == 10
    seen.extend(batch_labels[mask > 0])
  assert seen == list(range(23))


def test_class_balanced_subset():
  labels = np.repeat(np.arange(4), [50, 50, 50, 3])
  keep = data.class_balanced_subset(labels, 40, seed=0)
  counts = np.bincount(labels[keep], minlength=4)
  assert counts.sum() == 40 and len(set(keep)) == 40
  assert counts[3] == 3 and counts[:3].max() - counts[:3].min() <= 1
  np.testing.assert_array_equal(
    keep, data.class_balanced_subset(labels, 40, seed=0)
  )
  with pytest.raises(ValueError, match="only 153 exist"):
    data.class_balanced_subset(labels, 1000, seed=0)


def test_shard_batch_splits_over_devices():
  mesh = data.data_mesh()
  devices = len(jax.devices())
  assert devices == 4, "conftest should fake 4 CPU devices"
  (x,) = data.shard_batch(mesh, np.zeros((8, 3), np.float32))
  assert len(x.addressable_shards) == devices
  assert x.addressable_shards[0].data.shape == (8 // devices, 3)
  with pytest.raises(ValueError, match="divisible"):
    data.shard_batch(mesh, np.zeros((6, 3)))


def test_select_classes_relabels_in_given_order():
  from kd_ntk.data.splits import select_classes
  from kd_ntk.data.sources import DatasetInfo

  info = DatasetInfo("toy", 4, (1, 1, 1), ("a", "b", "c", "d"))
  labels = np.array([0, 1, 2, 3, 2, 0])
  images = np.arange(6).reshape(6, 1, 1, 1)
  (tx, ty), _, new_info = select_classes(
    (images, labels), (images, labels), info, (2, 0)
  )
  np.testing.assert_array_equal(ty, [1, 0, 0, 1])
  np.testing.assert_array_equal(tx.ravel(), [0, 2, 4, 5])
  assert new_info.num_classes == 2 and new_info.class_names == ("c", "a")
  with pytest.raises(ValueError, match="distinct"):
    select_classes((images, labels), (images, labels), info, (1, 1))
