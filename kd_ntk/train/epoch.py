"""One pass of a jitted step over an epoch's batches, metric sums on device."""

from collections.abc import Callable, Iterator

import jax
import ml_collections

from kd_ntk.data import sharded_train_batches

Sums = dict[str, jax.Array]


def epoch_batches(
  splits, config: ml_collections.ConfigDict, epoch: int, mesh
) -> Iterator[tuple[jax.Array, jax.Array]]:
  """The training batches of `epoch` in the order and augmentation of `config`
  (its seed, global batch size and augment block), split over `mesh`; each
  process reads and augments only its rows."""
  return sharded_train_batches(
    mesh,
    splits.train_images,
    splits.train_labels,
    config.batch_size,
    seed=config.seed,
    epoch=epoch,
    augment_pad=config.augment.pad,
    augment_flip=config.augment.flip,
  )


def add_sums(sums: Sums | None, step_metrics: Sums) -> Sums:
  """Running sums of step metrics, kept on device (no host sync per step)."""
  if sums is None:
    return dict(step_metrics)
  return {k: sums[k] + step_metrics[k] for k in sums}


def means(sums: Sums, steps: int) -> dict[str, float]:
  """Epoch means of summed step metrics (waits for the queued steps)."""
  return {k: float(v) / steps for k, v in jax.device_get(sums).items()}


def train_pass(
  step_fn,
  state,
  batches,
  rng,
  *,
  extra_args: Callable[[int], tuple] = lambda step: (),
):
  """Runs
  `state, metrics = step_fn(state, images, labels, rng, *extra_args(step))` over
  `batches` (global arrays, from `epoch_batches`).

  Returns:
    (final state, sums of the step metrics on device).
  """
  sums = None
  for step, (images, labels) in enumerate(batches):
    state, metrics = step_fn(state, images, labels, rng, *extra_args(step))
    sums = add_sums(sums, metrics)
  return state, sums
