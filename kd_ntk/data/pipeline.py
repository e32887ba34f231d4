"""From uint8 arrays to normalised, shuffled, augmented, sharded batches.

Every random choice is a pure function of (seed, epoch, step), so the same
config gives the same batches and a resumed run sees exactly the batches an
uninterrupted run would have seen.
"""

from typing import Iterator, Optional, Tuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def channel_stats(images_uint8: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """Per-channel mean and std of images scaled to [0, 1] (computed on train)."""
  scaled = images_uint8.reshape(-1, images_uint8.shape[-1]).astype(np.float64) / 255.0
  return scaled.mean(0).astype(np.float32), scaled.std(0).astype(np.float32)


def normalize(images_uint8: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
  """x ↦ (x/255 − mean) / std per channel, as float32."""
  return ((images_uint8.astype(np.float32) / 255.0) - mean) / std


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
  """The example order of `epoch`: a permutation drawn from (seed, epoch) alone."""
  return np.random.default_rng([seed, epoch]).permutation(n)


def epoch_batch_indices(n: int, batch_size: int, seed: int, epoch: int) -> np.ndarray:
  """Index array (steps, batch_size) for one epoch; the ragged tail is dropped."""
  steps = n // batch_size
  if steps == 0:
    raise ValueError(f"batch_size {batch_size} exceeds the {n} training examples.")
  return epoch_permutation(n, seed, epoch)[:steps * batch_size].reshape(steps, batch_size)


def augment(images_NxHxWxC: np.ndarray, rng: np.random.Generator, pad: int = 4,
            flip: bool = True) -> np.ndarray:
  """Random crop after zero padding by `pad` pixels, and random horizontal flip.

  The CIFAR recipe; applied to normalised images so padding is the mean colour.
  """
  n, h, w, _ = images_NxHxWxC.shape
  out = images_NxHxWxC
  if pad:
    padded = np.pad(images_NxHxWxC, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy = rng.integers(0, 2 * pad + 1, n)
    dx = rng.integers(0, 2 * pad + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
  if flip:
    flips = rng.random(n) < 0.5
    out = np.where(flips[:, None, None, None], out[:, :, ::-1], out)
  return out


def train_batches(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int,
                  epoch: int, augment_pad: int = 0, augment_flip: bool = False
                  ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """Yields the (images, labels) batches of one training epoch, deterministically."""
  for step, idx in enumerate(epoch_batch_indices(len(labels), batch_size, seed, epoch)):
    batch = images[idx]
    if augment_pad or augment_flip:
      rng = np.random.default_rng([seed, epoch, step, 1])
      batch = augment(batch, rng, augment_pad, augment_flip)
    yield batch, labels[idx]


def eval_batches(images: np.ndarray, labels: np.ndarray, batch_size: int
                 ) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """Yields (images, labels, mask) covering every example once; the last batch is
  padded to `batch_size` (so one compiled step serves all) and masked."""
  n = len(labels)
  for start in range(0, n, batch_size):
    stop = min(start + batch_size, n)
    mask = np.zeros(batch_size, np.float32)
    mask[:stop - start] = 1.0
    take = np.arange(start, start + batch_size).clip(max=n - 1)
    yield images[take], labels[take], mask


def class_balanced_subset(labels: np.ndarray, n: int, seed: int,
                          num_classes: Optional[int] = None) -> np.ndarray:
  """Sorted indices of `n` examples with (as near as possible) n/C per class.

  Classes with too few examples give all they have; the remainder is spread over
  the other classes. Raises if fewer than `n` examples exist.
  """
  num_classes = num_classes or int(labels.max()) + 1
  if n > len(labels):
    raise ValueError(f"Asked for {n} examples but only {len(labels)} exist.")
  rng = np.random.default_rng([seed, 7])
  pools = [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]
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
  return np.sort(np.concatenate([pools[c][:quota[c]] for c in range(num_classes)]))


def data_mesh(devices=None) -> Mesh:
  """A one-axis mesh ('data',) over all (or the given) devices."""
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), ("data",))


def shard_batch(mesh: Mesh, *arrays):
  """Places global batch arrays on the mesh, split along the batch axis.

  The batch size must be divisible by the number of devices.
  """
  devices = mesh.devices.size
  for a in arrays:
    if a.shape[0] % devices:
      raise ValueError(f"Batch of {a.shape[0]} cannot be split over {devices} devices; "
                       "use a batch size divisible by the device count.")
  sharding = NamedSharding(mesh, PartitionSpec("data"))
  return tuple(jax.device_put(a, sharding) for a in arrays)
