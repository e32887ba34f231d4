"""From uint8 arrays to normalised, shuffled, augmented, sharded batches.

Every random choice is a pure function of (seed, epoch, step), so the same
config gives the same batches and a resumed run sees exactly the batches an
uninterrupted run would have seen.

Multi-process runs: the global batch (its example order and augmentation draws)
depends on the seed and the global batch size only. Each process reads and
augments only its rows of it (`process_rows`), and `shard_process_batch`
assembles the global array with `jax.make_array_from_process_local_data`, so P
processes x D devices see the same batches as one process with P·D devices.
"""

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def channel_stats(images_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per-channel mean and std of images scaled to [0, 1] (computed on train).

  Raises:
    ValueError naming the cause when a channel is not finite or constant
    (normalising would divide by a zero std and train into NaN).
  """
  scaled = (
    images_uint8.reshape(-1, images_uint8.shape[-1]).astype(np.float64) / 255.0
  )
  mean, std = scaled.mean(0), scaled.std(0)
  for c in range(len(std)):
    if not (np.isfinite(mean[c]) and np.isfinite(std[c])):
      raise ValueError(
        f"The {len(images_uint8)} training images hold NaN or infinite pixel "
        f"values (channel {c}); the data is damaged: reinstall it or point "
        "--data_dir at a good copy."
      )
    if std[c] == 0 and len(images_uint8) > 1:
      raise ValueError(
        f"Channel {c} of all {len(images_uint8)} training images is constant "
        f"({255.0 * mean[c]:g}): nothing to learn, and normalising it divides "
        "by zero; the data is blank or damaged: reinstall it or point "
        "--data_dir at a good copy."
      )
  return mean.astype(np.float32), std.astype(np.float32)


def normalize(
  images_uint8: np.ndarray, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
  """x ↦ (x/255 − mean) / std per channel, as float32."""
  return ((images_uint8.astype(np.float32) / 255.0) - mean) / std


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
  """The example order of `epoch`: a permutation drawn from (seed, epoch)."""
  return np.random.default_rng([seed, epoch]).permutation(n)


def epoch_batch_indices(
  n: int, batch_size: int, seed: int, epoch: int
) -> np.ndarray:
  """Index array (steps, batch_size) for one epoch; drops the ragged tail."""
  steps = n // batch_size
  if steps == 0:
    raise ValueError(
      f"batch_size {batch_size} exceeds the {n} training examples."
    )
  return epoch_permutation(n, seed, epoch)[: steps * batch_size].reshape(
    steps, batch_size
  )


class AugmentDraws(NamedTuple):
  """The random choices of one batch's augmentation, one entry per example."""

  dy: np.ndarray | None  # Crop offsets (rows) in [0, 2·pad], or None.
  dx: np.ndarray | None  # Crop offsets (columns), or None.
  flips: np.ndarray | None  # Horizontal flip per example, or None.

  def take(self, rows) -> "AugmentDraws":
    """The draws of the examples `rows` (a slice or index array)."""
    return AugmentDraws(*(None if a is None else a[rows] for a in self))


def draw_augmentation(
  rng: np.random.Generator, n: int, pad: int = 4, flip: bool = True
) -> AugmentDraws:
  """Draws crops and flips for `n` examples (in this order, from `rng`)."""
  dy = rng.integers(0, 2 * pad + 1, n) if pad else None
  dx = rng.integers(0, 2 * pad + 1, n) if pad else None
  flips = rng.random(n) < 0.5 if flip else None
  return AugmentDraws(dy, dx, flips)


def apply_augmentation(
  images_NxHxWxC: np.ndarray, draws: AugmentDraws, pad: int = 4
) -> np.ndarray:
  """Zero-pads by `pad`, crops at (dy, dx), flips where `flips` (per image)."""
  n, h, w, _ = images_NxHxWxC.shape
  out = images_NxHxWxC
  if draws.dy is not None:
    padded = np.pad(images_NxHxWxC, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = draws.dy[:, None] + np.arange(h)[None, :]
    cols = draws.dx[:, None] + np.arange(w)[None, :]
    out = padded[
      np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]
    ]
  if draws.flips is not None:
    out = np.where(draws.flips[:, None, None, None], out[:, :, ::-1], out)
  return out


def augment(
  images_NxHxWxC: np.ndarray,
  rng: np.random.Generator,
  pad: int = 4,
  flip: bool = True,
) -> np.ndarray:
  """Random crop after zero padding by `pad` pixels, and random horizontal flip.

  The CIFAR recipe; applied to normalised images so padding is the mean colour.
  """
  draws = draw_augmentation(rng, len(images_NxHxWxC), pad, flip)
  return apply_augmentation(images_NxHxWxC, draws, pad)


Rows = slice | np.ndarray
ALL_ROWS = slice(None)


def train_batches(
  images: np.ndarray,
  labels: np.ndarray,
  batch_size: int,
  *,
  seed: int,
  epoch: int,
  augment_pad: int = 0,
  augment_flip: bool = False,
  rows: Rows = ALL_ROWS,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Yields the (images, labels) batches of one training epoch,
  deterministically.

  `batch_size` is the global batch; `rows` (from `process_rows`) selects this
  process's rows of each, and only those are read and augmented. Augmentation
  draws are made for the whole global batch, so they do not depend on `rows`.
  """
  for step, idx in enumerate(
    epoch_batch_indices(len(labels), batch_size, seed, epoch)
  ):
    mine = idx[rows]
    batch = images[mine]
    if augment_pad or augment_flip:
      rng = np.random.default_rng([seed, epoch, step, 1])
      draws = draw_augmentation(rng, batch_size, augment_pad, augment_flip)
      batch = apply_augmentation(batch, draws.take(rows), augment_pad)
    yield batch, labels[mine]


def eval_batches(
  images: np.ndarray, labels: np.ndarray, batch_size: int, rows: Rows = ALL_ROWS
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """Yields (images, labels, mask) covering every example once; the last batch
  is padded to `batch_size` (so one compiled step serves all) and masked. `rows`
  selects this process's rows of each global batch, as in `train_batches`."""
  n = len(labels)
  for start in range(0, n, batch_size):
    stop = min(start + batch_size, n)
    mask = np.zeros(batch_size, np.float32)
    mask[: stop - start] = 1.0
    take = np.arange(start, start + batch_size).clip(max=n - 1)[rows]
    yield images[take], labels[take], mask[rows]


def class_balanced_subset(
  labels: np.ndarray, n: int, seed: int, num_classes: int | None = None
) -> np.ndarray:
  """Sorted indices of `n` examples with (as near as possible) n/C per class.

  Classes with too few examples give all they have; the remainder is spread over
  the other classes. Raises if fewer than `n` examples exist.
  """
  num_classes = num_classes or int(labels.max()) + 1
  if n > len(labels):
    raise ValueError(f"Asked for {n} examples but only {len(labels)} exist.")
  rng = np.random.default_rng([seed, 7])
  pools = [
    rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)
  ]
  quota = np.zeros(num_classes, int)
  remaining = n
  while remaining:
    open_classes = [c for c in range(num_classes) if quota[c] < len(pools[c])]
    share = max(remaining // len(open_classes), 1)
    for c in open_classes:
      add = min(share, len(pools[c]) - quota[c], remaining)
      quota[c] += add
      remaining -= add
      if not remaining:
        break
  return np.sort(
    np.concatenate([pools[c][: quota[c]] for c in range(num_classes)])
  )


def data_mesh(devices=None) -> Mesh:
  """A one-axis mesh ('data',) over all (or the given) devices, of every
  process.

  Devices are grouped by process (stable within one), so each process owns one
  contiguous block of every global batch.
  """
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(
    np.asarray(sorted(devices, key=lambda d: d.process_index)), ("data",)
  )


def check_divisible(batch: int, devices: int) -> None:
  if batch % devices:
    raise ValueError(
      f"Batch of {batch} cannot be split over {devices} devices; "
      "use a batch size divisible by the device count."
    )


def rows_of_process(
  device_processes: Sequence[int], process_index: int, global_batch: int
) -> np.ndarray:
  """Rows of a global batch that one process holds on a one-axis data mesh.

  The batch is cut into len(device_processes) equal blocks, block k going to
  the k-th device of the mesh; a process holds the blocks of its devices, in
  mesh order (the layout `jax.make_array_from_process_local_data` expects).

  Args:
    device_processes: process index of each mesh device, in mesh order.
    process_index: the process asked about.
    global_batch: rows in the global batch.
  """
  devices = len(device_processes)
  check_divisible(global_batch, devices)
  per_device = global_batch // devices
  mine = [k for k, p in enumerate(device_processes) if p == process_index]
  if not mine:
    raise ValueError(f"Process {process_index} has no device in the mesh.")
  return np.concatenate(
    [np.arange(k * per_device, (k + 1) * per_device) for k in mine]
  )


def process_rows(mesh: Mesh, global_batch: int) -> Rows:
  """This process's rows of a global batch on `mesh` (all, for one process)."""
  check_divisible(global_batch, mesh.devices.size)
  processes = [d.process_index for d in mesh.devices.flat]
  if len(set(processes)) == 1:
    return ALL_ROWS
  return rows_of_process(processes, jax.process_index(), global_batch)


def shard_process_batch(mesh: Mesh, global_batch: int, *local_arrays):
  """Assembles global batch arrays from this process's rows (`process_rows`).

  Every process calls it with its own rows; the result is one global array per
  input, split along the batch axis over every device of every process.
  """
  check_divisible(global_batch, mesh.devices.size)
  sharding = NamedSharding(mesh, PartitionSpec("data"))
  return tuple(
    jax.make_array_from_process_local_data(
      sharding, np.asarray(a), (global_batch,) + np.shape(a)[1:]
    )
    for a in local_arrays
  )


def shard_batch(mesh: Mesh, *arrays):
  """Places global batch arrays (the same in every process) on the mesh, split
  along the batch axis; each process contributes only its rows.

  The batch size must be divisible by the number of devices.
  """
  return tuple(
    shard_process_batch(mesh, len(a), a[process_rows(mesh, len(a))])[0]
    for a in arrays
  )


def sharded_train_batches(
  mesh: Mesh,
  images: np.ndarray,
  labels: np.ndarray,
  batch_size: int,
  *,
  seed: int,
  epoch: int,
  augment_pad: int = 0,
  augment_flip: bool = False,
):
  """`train_batches` as global (images, labels) arrays split over `mesh`; each
  process reads and augments only its rows of every global batch."""
  rows = process_rows(mesh, batch_size)
  for x, y in train_batches(
    images,
    labels,
    batch_size,
    seed=seed,
    epoch=epoch,
    augment_pad=augment_pad,
    augment_flip=augment_flip,
    rows=rows,
  ):
    yield shard_process_batch(mesh, batch_size, x, y)


def to_host(array) -> np.ndarray:
  """The whole of a global array as numpy, in every process (an all-gather when
  other processes hold parts of it)."""
  if getattr(array, "is_fully_addressable", True) or array.is_fully_replicated:
    return np.asarray(array)
  from jax.experimental import multihost_utils  # Multi-process runs only.

  return np.asarray(multihost_utils.process_allgather(array, tiled=True))
