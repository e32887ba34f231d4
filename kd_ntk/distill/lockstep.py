"""Lock-step distillation: teacher and student trained side by side in one run.

The teacher (config.distill.teacher, a full teacher config) trains on labels;
the student follows the teacher as it is now, so no stored trajectory is needed.
The teacher half is written to <workdir>/teacher exactly as
`kd_ntk.train.loop.run` would write it (config.json, metrics.jsonl, a checkpoint
per epoch), so it is an ordinary teacher run for later analysis.

Granularity (config.distill.granularity):
  "epoch": with distill.online_offset = 0, teacher epoch t runs first and the
    student's epoch t learns from the teacher after it (teacher checkpoint t);
    with offset −1 the student's epoch t runs first, taught by the teacher of
    the start of the epoch (checkpoint t−1). Each network uses its own config's
    seed, batch size and data order, so this reproduces, up to float
    reassociation, `train.loop.run(teacher)` followed by an online student with
    the same offset.
  "step": on every batch of the student's data order, the teacher takes its
    label step, then the student takes a KD step on the same batch against the
    updated teacher (offset 0), or before the teacher's step (offset −1). The
    row's teacher metrics are those of the teacher at the end of the epoch.

Rows carry only the "_current" teacher metrics: the final teacher does not
exist until the run ends (with offset 0 the last epoch's current teacher is it).

Both networks run on the one skeleton, `kd_ntk.train.runner`: the student is the
run (its latest checkpoint decides where a resume starts; later teacher
checkpoints are discarded), the teacher its second network.
"""

import functools
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from kd_ntk import metrics
from kd_ntk.data import data_mesh
from kd_ntk.distill import health, student_rows
from kd_ntk.distill.optimizer import student_optimizer
from kd_ntk.distill.steps import jit_distill_step, scalar
from kd_ntk.train import epoch as epoch_lib
from kd_ntk.train import health as train_health
from kd_ntk.train.evaluation import Evaluator
from kd_ntk.train.from_config import (
  check_batch_size,
  model_from_config,
  splits_from_config,
  with_data_fields,
)
from kd_ntk.train.loop import label_row
from kd_ntk.train.runner import Network, run_epochs
from kd_ntk.train.state import (
  initial_state,
  learning_rate_schedule,
  make_optimizer,
)
from kd_ntk.train.steps import train_step


class LockstepTraining:
  """The per-epoch work of a lock-step run; states are (student, teacher)."""

  def __init__(
    self, config, tconfig, *, temperature, models, txs, splits, mesh, rngs
  ):
    self.config, self.tconfig, self.splits, self.mesh = (
      config,
      tconfig,
      splits,
      mesh,
    )
    self.temperature = temperature
    (model, teacher_model), (s_tx, t_tx), (self.s_rng, self.t_rng) = (
      models,
      txs,
      rngs,
    )
    n, d = len(splits.train_labels), config.distill
    self.s_steps, self.t_steps = n // config.batch_size, n // tconfig.batch_size
    self.s_lr = student_optimizer(config, self.s_steps)[1]
    self.t_lr = learning_rate_schedule(
      tconfig.optimizer, self.t_steps, tconfig.epochs
    )
    self.sets = student_rows.eval_sets(splits, config)
    self.evaluators = (
      Evaluator(model, config.eval_batch_size, mesh),
      Evaluator(teacher_model, config.eval_batch_size, mesh),
    )
    self.t_step = jax.jit(
      functools.partial(
        train_step,
        model=teacher_model,
        tx=t_tx,
        label_smoothing=tconfig.label_smoothing,
      ),
      donate_argnums=0,
    )
    self.s_step = jit_distill_step(
      model=model,
      teacher_model=teacher_model,
      tx=s_tx,
      scale_by_tau_squared=d.tau_squared,
      label_smoothing=config.label_smoothing,
    )
    self.weights, self.alpha = np.ones(1, np.float32), scalar(d.alpha)
    self.teacher_first = d.online_offset == 0
    self.per_step = d.granularity == "step"
    # The teacher's logits now (at the end of the last epoch).
    self.t_logits = None

  def _logits(self, which: int, state):
    return student_rows.logits_on(
      self.evaluators[which], state.variables(), self.sets
    )

  def _teacher_row(
    self, epoch, logits, *, seconds, sums=None, steps=1, lr=None
  ):
    """The row `train.loop.run` writes for a teacher epoch."""
    labels = self.sets["test"][1]
    test = {
      "loss": metrics.cross_entropy(logits["test"], labels),
      "accuracy": metrics.accuracy(logits["test"], labels),
    }
    return label_row(
      epoch,
      test,
      seconds=seconds,
      means=None if sums is None else epoch_lib.means(sums, steps),
      learning_rate=lr,
    )

  def first_rows(self, states):
    s_state, t_state = states
    self.t_logits = self._logits(1, t_state)
    row = student_rows.evaluation_row(
      self._logits(0, s_state), self.sets, self.t_logits
    )
    return [
      {"epoch": 0, **row, "teacher_epoch": 0, "seconds": 0.0},
      self._teacher_row(0, self.t_logits, seconds=0.0),
    ]

  def _teacher_pass(self, t_state, epoch):
    return epoch_lib.train_pass(
      self.t_step,
      t_state,
      epoch_lib.epoch_batches(self.splits, self.tconfig, epoch, self.mesh),
      self.t_rng,
    )

  def _student_pass(self, s_state, t_state, epoch, tau):
    args = ((t_state.variables(),), self.weights, tau, self.alpha)
    return epoch_lib.train_pass(
      self.s_step,
      s_state,
      epoch_lib.epoch_batches(self.splits, self.config, epoch, self.mesh),
      self.s_rng,
      extra_args=lambda step: args,
    )

  def _both_per_step(self, s_state, t_state, epoch, tau):
    s_sums = t_sums = None
    for batch in epoch_lib.epoch_batches(
      self.splits, self.config, epoch, self.mesh
    ):
      if self.teacher_first:
        t_state, t_m = self.t_step(t_state, *batch, self.t_rng)
      s_state, s_m = self.s_step(
        s_state,
        *batch,
        self.s_rng,
        (t_state.variables(),),
        self.weights,
        tau,
        self.alpha,
      )
      if not self.teacher_first:
        t_state, t_m = self.t_step(t_state, *batch, self.t_rng)
      s_sums, t_sums = (
        epoch_lib.add_sums(s_sums, s_m),
        epoch_lib.add_sums(t_sums, t_m),
      )
    return s_state, t_state, s_sums, t_sums

  def train_epoch(self, states, epoch: int):
    s_state, t_state = states
    if (
      self.t_logits is None
    ):  # Resumed: the teacher of the start of this epoch.
      self.t_logits = self._logits(1, t_state)
    tau = self.temperature(epoch)
    start = time.time()
    if self.per_step:
      s_state, t_state, s_sums, t_sums = self._both_per_step(
        s_state, t_state, epoch, scalar(tau)
      )
    elif self.teacher_first:
      t_state, t_sums = self._teacher_pass(t_state, epoch)
      s_state, s_sums = self._student_pass(s_state, t_state, epoch, scalar(tau))
    else:
      s_state, s_sums = self._student_pass(s_state, t_state, epoch, scalar(tau))
      t_state, t_sums = self._teacher_pass(t_state, epoch)
    # Time the work, not its dispatch.
    jax.block_until_ready((s_state, t_state))
    seconds, eval_start = time.time() - start, time.time()
    # The teacher that taught this epoch: the one now (offset 0, or per step,
    # where it taught the last step), else the one of the start of the epoch.
    now = self.teacher_first or self.per_step
    previous, self.t_logits = self.t_logits, self._logits(1, t_state)
    current = self.t_logits if now else previous
    row = student_rows.train_row(s_sums, self.s_steps)
    health.check_finite(row, epoch, self.config)
    row = {
      "epoch": epoch,
      **row,
      **student_rows.evaluation_row(
        self._logits(0, s_state), self.sets, current
      ),
      "teacher_epoch": epoch if now else epoch - 1,
      "temperature": tau,
      "learning_rate": float(self.s_lr(epoch * self.s_steps - 1)),
      "seconds": seconds,
      "eval_seconds": time.time() - eval_start,
    }
    health.check_finite(row, epoch, self.config)
    t_row = self._teacher_row(
      epoch,
      self.t_logits,
      seconds=seconds,
      sums=t_sums,
      steps=self.s_steps if self.per_step else self.t_steps,
      lr=float(self.t_lr(epoch * self.t_steps - 1)),
    )
    if "train_loss" in train_health.non_finite_metrics(t_row):
      raise FloatingPointError(
        f"The lock-step teacher diverged at epoch {epoch}; lower "
        "distill.teacher.optimizer.learning_rate."
      )
    health.warn_if_chance_level(
      row, self.config.num_classes, epoch, self.config
    )
    train_health.warn_if_chance_level(
      t_row,
      self.config.num_classes,
      epoch,
      label="lock-step teacher",
      hint="Lower distill.teacher.optimizer.learning_rate.",
    )
    return [s_state, t_state], [row, t_row]


def run(
  config: ml_collections.ConfigDict, workdir: str, plan
) -> list[dict[str, Any]]:
  """Lock-step run of `config` (validated into `plan` by `distill.loop.run`)."""
  splits = splits_from_config(config)
  config = with_data_fields(config, splits.info)
  tconfig = with_data_fields(plan.teacher_config, splits.info)
  model, teacher_model = (
    model_from_config(config, config.num_classes),
    model_from_config(tconfig, config.num_classes),
  )
  mesh = data_mesh()
  n = len(splits.train_labels)
  for size in (config.batch_size, tconfig.batch_size):
    check_batch_size(size, mesh, n)
  s_tx = student_optimizer(config, n // config.batch_size)[0]
  t_tx = make_optimizer(
    tconfig.optimizer, n // tconfig.batch_size, tconfig.epochs
  )
  s_init, s_rng = initial_state(model, s_tx, config.seed, config.input_shape)
  t_init, t_rng = initial_state(
    teacher_model, t_tx, tconfig.seed, config.input_shape
  )
  work = LockstepTraining(
    config,
    tconfig,
    temperature=plan.temperature,
    models=(model, teacher_model),
    txs=(s_tx, t_tx),
    splits=splits,
    mesh=mesh,
    rngs=(s_rng, t_rng),
  )
  networks = [
    Network(workdir, config, model, config.input_shape, s_init),
    Network(
      plan.teacher_workdir, tconfig, teacher_model, config.input_shape, t_init
    ),
  ]
  return run_epochs(networks, work, config.epochs, mesh)
