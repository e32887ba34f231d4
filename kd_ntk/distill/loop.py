"""`run(config, workdir)`: train a student on the targets of a teacher run.

Modes (config.distill.mode): none (labels), offline (final teacher), early (one
earlier checkpoint), online (the teacher's trajectory, per epoch or per step),
anchors (stage-wise checkpoints), lockstep (teacher trained in the same run, see
`kd_ntk.distill.lockstep`). The schedules and the online epoch convention are
documented in `kd_ntk.distill.sources`.

Like the teacher loop (both run on `kd_ntk.train.runner`): the student is
checkpointed every epoch (epoch 0 = init), a rerun resumes, a workdir holding
another config is refused, and a diverged
run stops with an error instead of reporting a chance-level accuracy. The config
is validated against the teacher run before any data is loaded.

metrics.jsonl rows (see `student_rows.evaluation_row` and
`student_rows.train_row`): epoch,
teacher_epoch (the checkpoint teaching the end of the epoch), temperature,
learning_rate, train_loss / train_kd / train_ce / train_batch_accuracy /
train_batch_fidelity (epoch means over steps), test_loss and train_eval_loss
(cross-entropy), {train,test}_{accuracy, ece, fidelity_final, fidelity_current,
kl_final, kl_current, margin_final, margin_current},
teacher_{train,test}_accuracy,
seconds (training), eval_seconds. With `eval_every` = k > 1 (see
`plan.eval_every`) only epochs 0, k, 2k, ... and the last are evaluated; the
other rows hold the training metrics, teacher_epoch, temperature,
learning_rate, seconds, eval_seconds = 0 and test_accuracy = None.
"train_*" evaluation metrics are on a fixed training subset of
config.train_eval_size examples.
"""

import time
from typing import Any

import ml_collections
import numpy as np

from kd_ntk import distributed
from kd_ntk.distill import health, plan as plan_lib, student_rows
from kd_ntk.distill.seed_grid import Shared
from kd_ntk.distill.steps import scalar
from kd_ntk.distill.teacher_targets import fixed_arity
from kd_ntk.train import binding, epoch as epoch_lib, preflight
from kd_ntk.train import workdir as wd
from kd_ntk.train.from_config import check_batch_size, with_data_fields
from kd_ntk.train.runner import Network, run_epochs
from kd_ntk.train.state import initial_state


class StudentTraining:
  """The per-epoch work of a student taught by a stored teacher run (or by
  labels).

  Args:
    config, plan: the run's config (with its data fields) and plan.
    student: its model, optimizer and jitted step (`seed_grid.Student`).
    evaluator: the student model's `Evaluator`.
    splits, sets: the data splits and the evaluation sets.
    mesh: the device mesh.
    train_rng: the key the steps fold with the step number.
    teachers: the teacher's `TeacherTargets` (None without a teacher).
    timer: `timer(name)` -> a context manager timing a part of the work.
  """

  def __init__(
    self,
    *,
    config,
    plan,
    student,
    evaluator,
    splits,
    sets,
    mesh,
    train_rng,
    teachers,
    timer,
  ):
    self.config, self.plan, self.splits, self.sets = config, plan, splits, sets
    self.mesh, self.train_rng, self.teachers = mesh, train_rng, teachers
    self.lr_schedule, self.step = student.lr_schedule, student.step
    self.evaluator, self.timer = evaluator, timer
    self.steps_per_epoch = len(splits.train_labels) // config.batch_size
    self.eval_every = plan_lib.eval_every(config)
    d = config.distill
    self.arity = (
      2 if d.mode == "online" and d.granularity == "step_blend" else 1
    )
    self.alpha = scalar(d.alpha)

  def _eval_row(self, variables, epoch_for_pick: int, step_for_pick: int):
    """Evaluation metrics against the teacher of (epoch, step) and the final
    one."""
    start = time.time()
    pick = self.plan.schedule(
      epoch_for_pick, step_for_pick, self.steps_per_epoch
    )
    with self.timer("teacher_targets"):
      current = self.teachers.of_pick(pick) if pick is not None else None
      final = (
        self.teachers.of_epoch(self.plan.teacher_epochs)
        if self.teachers
        else None
      )
    with self.timer("evaluation"):
      logits = student_rows.logits_on(self.evaluator, variables, self.sets)
      row = student_rows.evaluation_row(logits, self.sets, current, final)
    row["teacher_epoch"] = pick.last if pick is not None else None
    return row, time.time() - start

  def _skipped_row(self, epoch: int):
    """The row of an epoch that `eval_every` skips: test_accuracy None."""
    pick = self.plan.schedule(
      epoch, self.steps_per_epoch - 1, self.steps_per_epoch
    )
    return {
      "test_accuracy": None,
      "teacher_epoch": pick.last if pick is not None else None,
    }, 0.0

  def first_rows(self, states):
    row, eval_seconds = self._eval_row(states[0].variables(), 1, 0)
    return [{"epoch": 0, **row, "seconds": 0.0, "eval_seconds": eval_seconds}]

  def _teacher_args(self, epoch: int, tau):
    """step -> the step's teacher arguments, restored only when the pick
    changes."""
    current, args = None, ()

    def at(step: int):
      nonlocal current, args
      pick = self.plan.schedule(epoch, step, self.steps_per_epoch)
      if pick is not None and pick != current:
        current = pick
        padded = fixed_arity(pick, self.arity)
        with self.timer("teacher_targets"):
          variables = tuple(self.teachers.variables(e) for e in padded.epochs)
        args = (
          variables,
          np.asarray(padded.weights, np.float32),
          tau,
          self.alpha,
        )
      return args

    return at

  def train_epoch(self, states, epoch: int):
    config, plan = self.config, self.plan
    start = time.time()
    tau = plan.temperature(epoch)
    with self.timer("training"):
      state, sums = epoch_lib.train_pass(
        self.step,
        states[0],
        epoch_lib.epoch_batches(self.splits, config, epoch, self.mesh),
        self.train_rng,
        extra_args=self._teacher_args(epoch, scalar(tau)),
      )
      # Waits for the last step.
      row = student_rows.train_row(sums, self.steps_per_epoch)
    train_seconds = time.time() - start
    health.check_finite(row, epoch, config)
    if plan_lib.evaluated(epoch, config.epochs, self.eval_every):
      eval_metrics, eval_seconds = self._eval_row(
        state.variables(), epoch, self.steps_per_epoch - 1
      )
    else:
      eval_metrics, eval_seconds = self._skipped_row(epoch)
    row = {
      "epoch": epoch,
      **row,
      **eval_metrics,
      "temperature": tau if plan.mode != "none" else None,
      "learning_rate": float(
        self.lr_schedule(epoch * self.steps_per_epoch - 1)
      ),
      "seconds": train_seconds,
      "eval_seconds": eval_seconds,
    }
    health.check_finite(row, epoch, config)
    health.warn_if_chance_level(row, config.num_classes, epoch, config)
    return [state], [row]


def run(
  config: ml_collections.ConfigDict,
  workdir: str,
  shared: Shared | None = None,
  *,
  checked: bool = False,
) -> list[dict[str, Any]]:
  """Trains the student of `config` in `workdir`; returns all metric rows.

  Args:
    shared: the data, teacher targets and compiled steps this run may share
      with the other runs of a grid (`kd_ntk.distill.seed_grid`); None: its own.
      The records are the same either way.
    checked: the caller has run `preflight.check_training_config` on this
      config (a reproduction checks all its configs once); only the workdir
      and data checks remain.
  """
  # Before anything is read or written.
  if checked:
    preflight.check_run_inputs(config, workdir)
  else:
    preflight.check_training_config(config, workdir)
  plan = plan_lib.make_plan(config, workdir)  # Only small files read so far.
  if plan.mode == "lockstep":
    from kd_ntk.distill import lockstep  # Keeps this module's imports acyclic.

    return lockstep.run(config, workdir, plan)
  shared = shared or Shared()
  with shared.timer("setup"):
    splits = shared.splits(config)
    config = with_data_fields(config, splits.info)
    mesh = shared.mesh()
    check_batch_size(config.batch_size, mesh, len(splits.train_labels))
    if config.eval_batch_size % mesh.devices.size:
      raise ValueError(
        f"eval_batch_size={config.eval_batch_size} must be divisible by the "
        f"{mesh.devices.size} devices."
      )
    steps_per_epoch = len(splits.train_labels) // config.batch_size
    plan_lib.check_checkpoints(plan, config.epochs, steps_per_epoch)
    sets, teachers = shared.eval_sets(config, splits), None
    if plan.has_teacher:
      # The teacher is intact and unchanged.
      teacher_fingerprint = binding.check(workdir, plan.teacher_workdir)
      teachers = shared.teachers(config, plan, sets, teacher_fingerprint)
      # A teacher of another shape fails here.
      teachers.variables(plan.teacher_epochs)
    student = shared.student(config, teachers, steps_per_epoch)
    init, train_rng = initial_state(
      student.model, student.tx, config.seed, config.input_shape
    )
    work = StudentTraining(
      config=config,
      plan=plan,
      student=student,
      evaluator=shared.evaluator(config, student.model),
      splits=splits,
      sets=sets,
      mesh=mesh,
      train_rng=train_rng,
      teachers=teachers,
      timer=shared.timer,
    )
    network = Network(workdir, config, student.model, config.input_shape, init)
    if plan.has_teacher and distributed.is_writer():  # Process 0 writes.
      wd.claim(workdir, config)  # Bound to this teacher before any epoch.
      binding.record(workdir, teacher_fingerprint)
  return run_epochs([network], work, config.epochs, mesh)
