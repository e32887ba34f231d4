"""`run(config, workdir)`: train a network on labels, checkpointing every epoch.

Epoch 0 (the initialisation) and every later epoch are saved and kept with the
optimizer state. Rerunning in the same workdir resumes from the latest
checkpoint; a finished run is not trained again (`kd_ntk.train.runner`).
"""

import functools
import time
from typing import Any

import jax
import ml_collections

from kd_ntk.data import data_mesh
from kd_ntk.train import epoch as epoch_lib
from kd_ntk.train import health, preflight
from kd_ntk.train.evaluation import Evaluator
from kd_ntk.train.from_config import (
  check_batch_size,
  model_from_config,
  splits_from_config,
  with_data_fields,
)
from kd_ntk.train.runner import Network, run_epochs
from kd_ntk.train.state import (
  initial_state,
  learning_rate_schedule,
  make_optimizer,
)
from kd_ntk.train.steps import train_step


def label_row(
  epoch: int,
  test: dict[str, float],
  *,
  seconds: float,
  means: dict[str, float] | None = None,
  learning_rate: float | None = None,
) -> dict[str, Any]:
  """A teacher's metrics row: test loss/accuracy, seconds and, after epoch 0,
  the epoch means of the train loss/accuracy and the last step's learning
  rate."""
  row = {
    "epoch": epoch,
    "test_loss": test["loss"],
    "test_accuracy": test["accuracy"],
    "seconds": seconds,
  }
  if means is not None:
    row.update(
      train_loss=means["loss"],
      train_accuracy=means["accuracy"],
      learning_rate=learning_rate,
    )
  return row


class LabelTraining:
  """The per-epoch work of a teacher: SGD on labels, then a test evaluation."""

  def __init__(self, config, model, *, tx, splits, mesh, train_rng):
    self.config, self.splits, self.mesh, self.train_rng = (
      config,
      splits,
      mesh,
      train_rng,
    )
    self.steps_per_epoch = len(splits.train_labels) // config.batch_size
    self.schedule = learning_rate_schedule(
      config.optimizer, self.steps_per_epoch, config.epochs
    )
    self.evaluator = Evaluator(model, config.eval_batch_size, mesh)
    self.step = jax.jit(
      functools.partial(
        train_step, model=model, tx=tx, label_smoothing=config.label_smoothing
      ),
      donate_argnums=0,
    )

  def _test(self, state) -> dict[str, float]:
    return self.evaluator.evaluate(
      state.variables(), self.splits.test_images, self.splits.test_labels
    )

  def first_rows(self, states):
    return [label_row(0, self._test(states[0]), seconds=0.0)]

  def train_epoch(self, states, epoch: int):
    start = time.time()
    state, sums = epoch_lib.train_pass(
      self.step,
      states[0],
      epoch_lib.epoch_batches(self.splits, self.config, epoch, self.mesh),
      self.train_rng,
    )
    # Waits for queued steps.
    means = epoch_lib.means(sums, self.steps_per_epoch)
    seconds = time.time() - start
    learning_rate = float(self.schedule(epoch * self.steps_per_epoch - 1))
    row = label_row(
      epoch,
      self._test(state),
      seconds=seconds,
      means=means,
      learning_rate=learning_rate,
    )
    if "train_loss" in health.non_finite_metrics(row):
      raise FloatingPointError(
        f"Training diverged at epoch {epoch} (loss "
        f"{row['train_loss']}); lower optimizer.learning_rate."
      )
    health.warn_if_chance_level(
      row,
      self.config.num_classes,
      epoch,
      label=f"[{self.config.model}]",
      hint="Lower optimizer.learning_rate.",
    )
    return [state], [row]


def run(
  config: ml_collections.ConfigDict, workdir: str, *, checked: bool = False
) -> list[dict[str, Any]]:
  """Trains `config.model` on labels for `config.epochs` epochs.

  Writes to `workdir`: config.json (with the data's num_classes and
  input_shape), checkpoints/<epoch> for epoch 0..epochs and metrics.jsonl (one
  row per epoch: train loss/accuracy, test loss/accuracy, learning rate,
  seconds).

  Args:
    checked: the caller has run `preflight.check_training_config` on this
      config (a reproduction checks all its configs once); only the workdir
      and data checks remain.

  Returns:
    All metric rows of the run (including rows from before a resume).
  """
  # Before anything is read or written.
  if checked:
    preflight.check_run_inputs(config, workdir)
  else:
    preflight.check_training_config(config, workdir)
  # Missing data fails before any model work.
  splits = splits_from_config(config)
  config = with_data_fields(config, splits.info)
  model = model_from_config(config, config.num_classes)
  mesh = data_mesh()
  check_batch_size(config.batch_size, mesh, len(splits.train_labels))
  steps_per_epoch = len(splits.train_labels) // config.batch_size
  tx = make_optimizer(config.optimizer, steps_per_epoch, config.epochs)
  init, train_rng = initial_state(model, tx, config.seed, config.input_shape)
  network = Network(workdir, config, model, config.input_shape, init)
  work = LabelTraining(
    config, model, tx=tx, splits=splits, mesh=mesh, train_rng=train_rng
  )
  return run_epochs([network], work, config.epochs, mesh)
