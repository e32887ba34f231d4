"""One pass of a jitted step over an epoch's batches, with metric sums on device."""

from typing import Callable, Dict, Iterator, Optional, Tuple

import jax
import ml_collections
import numpy as np

from kd_ntk.data import shard_batch, train_batches

Sums = Dict[str, jax.Array]


def epoch_batches(splits, config: ml_collections.ConfigDict, epoch: int
                  ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """The training batches of `epoch` in the order and augmentation of `config`
  (its seed, batch size and augment block)."""
  return train_batches(splits.train_images, splits.train_labels, config.batch_size,
                       config.seed, epoch, config.augment.pad, config.augment.flip)


def add_sums(sums: Optional[Sums], step_metrics: Sums) -> Sums:
  """Running sums of step metrics, kept on device (no host sync per step)."""
  if sums is None:
    return dict(step_metrics)
  return {k: sums[k] + step_metrics[k] for k in sums}


def means(sums: Sums, steps: int) -> Dict[str, float]:
  """Epoch means of summed step metrics (waits for the queued steps)."""
  return {k: float(v) / steps for k, v in jax.device_get(sums).items()}


def train_pass(step_fn, state, batches, mesh, rng,
               extra_args: Callable[[int], tuple] = lambda step: ()):
  """Runs `state, metrics = step_fn(state, images, labels, rng, *extra_args(step))`
  over `batches`.

  Returns:
    (final state, sums of the step metrics on device).
  """
  sums = None
  for step, (images, labels) in enumerate(batches):
    state, metrics = step_fn(state, *shard_batch(mesh, images, labels), rng,
                             *extra_args(step))
    sums = add_sums(sums, metrics)
  return state, sums
