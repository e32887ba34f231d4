"""Per-process batches, simulated without a runtime: the rows each process of a
P-process x D-device mesh reads, put back in mesh order, are the global batch."""

import jax
import numpy as np
import pytest

from kd_ntk import data
from kd_ntk.data.pipeline import ALL_ROWS, rows_of_process


def toy(n=48, channels=2):
  rng = np.random.default_rng(0)
  return rng.normal(size=(n, 6, 6, channels)).astype(np.float32), np.arange(
    n
  ) % 5


def grouped(processes, devices_each):
  """Process index of each mesh device for a mesh grouped by process."""
  return [p for p in range(processes) for _ in range(devices_each)]


@pytest.mark.parametrize(
  "processes,devices_each,batch", [(2, 2, 8), (4, 1, 12), (3, 2, 12), (1, 4, 8)]
)
def test_process_shares_reassemble_the_global_batches(
  processes, devices_each, batch
):
  images, labels = toy()
  layout = grouped(processes, devices_each)
  whole = list(
    data.train_batches(
      images, labels, batch, seed=3, epoch=2, augment_pad=2, augment_flip=True
    )
  )
  shares = [
    list(
      data.train_batches(
        images,
        labels,
        batch,
        seed=3,
        epoch=2,
        augment_pad=2,
        augment_flip=True,
        rows=rows_of_process(layout, p, batch),
      )
    )
    for p in range(processes)
  ]
  assert len(whole) == len(shares[0]) == len(images) // batch
  for step, (x_all, y_all) in enumerate(whole):
    x = np.concatenate([s[step][0] for s in shares])
    y = np.concatenate([s[step][1] for s in shares])
    np.testing.assert_array_equal(x, x_all)
    np.testing.assert_array_equal(y, y_all)
    assert all(len(s[step][1]) == batch // processes for s in shares)


def test_augmentation_of_a_share_does_not_depend_on_the_other_rows():
  # Oracle: augmenting the whole batch with the pre-multi-process `augment`.
  images, labels = toy()
  idx = data.epoch_batch_indices(len(labels), 8, 3, 1)[0]
  expected = data.augment(
    images[idx], np.random.default_rng([3, 1, 0, 1]), 2, True
  )
  (x, _), *_ = data.train_batches(
    images,
    labels,
    8,
    seed=3,
    epoch=1,
    augment_pad=2,
    augment_flip=True,
    rows=np.arange(4, 8),
  )
  np.testing.assert_array_equal(x, expected[4:])
  assert not np.array_equal(x, images[idx[4:]])  # Augmentation did something.


def test_interleaved_mesh_gives_each_process_its_devices_blocks():
  np.testing.assert_array_equal(
    rows_of_process([0, 1, 0, 1], 0, 8), [0, 1, 4, 5]
  )
  np.testing.assert_array_equal(
    rows_of_process([0, 1, 0, 1], 1, 8), [2, 3, 6, 7]
  )
  np.testing.assert_array_equal(rows_of_process([1, 1, 0, 0], 0, 4), [2, 3])


def test_bad_layouts_are_refused():
  with pytest.raises(ValueError, match="divisible"):
    rows_of_process(grouped(2, 2), 0, 6)
  with pytest.raises(ValueError, match="no device"):
    rows_of_process(grouped(2, 2), 2, 8)


def test_eval_shares_cover_every_example_once():
  images, labels = toy(23)
  layout = grouped(2, 2)
  seen = []
  for process in range(2):
    rows = rows_of_process(layout, process, 8)
    for x, y, mask in data.eval_batches(images, labels, 8, rows=rows):
      assert len(y) == len(mask) == len(x) == 4
      seen.extend(y[mask > 0].tolist())
  whole = [
    l for _, y, m in data.eval_batches(images, labels, 8) for l in y[m > 0]
  ]
  assert sorted(seen) == sorted(whole) == sorted(labels.tolist())


def test_one_process_reads_every_row_and_assembles_like_device_put():
  mesh = data.data_mesh()
  assert data.process_rows(mesh, 8) is ALL_ROWS
  x = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
  (assembled,) = data.shard_process_batch(mesh, 8, x)
  assert assembled.sharding.is_equivalent_to(
    jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data")), 2
  )
  np.testing.assert_array_equal(data.to_host(assembled), x)
  np.testing.assert_array_equal(data.to_host(data.shard_batch(mesh, x)[0]), x)
  with pytest.raises(ValueError, match="divisible"):
    data.process_rows(mesh, 6)


def test_data_mesh_keeps_one_process_device_order():
  devices = jax.devices()
  assert list(data.data_mesh().devices) == devices
  assert list(data.data_mesh(devices[::-1]).devices) == devices[::-1]
