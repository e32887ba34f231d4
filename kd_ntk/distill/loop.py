"""`run(config, workdir)`: train a student on the targets of a teacher run.

Modes (config.distill.mode): none (labels), offline (final teacher), early (one
earlier checkpoint), online (the teacher's trajectory, per epoch or per step),
anchors (stage-wise checkpoints), lockstep (teacher trained in the same run, see
`kd_ntk.distill.lockstep`). The schedules and the online epoch convention are
documented in `kd_ntk.distill.sources`.

Like the teacher loop: the student is checkpointed every epoch (epoch 0 = init),
a rerun resumes, a workdir holding another config is refused, and a diverged
run stops with an error instead of reporting a chance-level accuracy. The config
is validated against the teacher run before any data is loaded.

metrics.jsonl rows (see `student.evaluation_row` and `student.train_row`): epoch,
teacher_epoch (the checkpoint teaching the end of the epoch), temperature,
learning_rate, train_loss / train_kd / train_ce / train_batch_accuracy /
train_batch_fidelity (epoch means over steps), test_loss and train_eval_loss
(cross-entropy), {train,test}_{accuracy, ece, fidelity_final, fidelity_current,
kl_final, kl_current, margin_final, margin_current}, teacher_{train,test}_accuracy,
seconds (training), eval_seconds.
"train_*" evaluation metrics are on a fixed training subset of
config.train_eval_size examples.
"""

import collections
import functools
import time
from typing import Any, Dict, List

import jax
import ml_collections
import numpy as np

from kd_ntk.configs import validation
from kd_ntk.data import data_mesh, train_batches, shard_batch
from kd_ntk.distill import plan as plan_lib, student
from kd_ntk.distill.sources import TeacherPick
from kd_ntk.distill.steps import jit_distill_step, scalar
from kd_ntk.train import binding, checkpoint, teacher_io, workdir as wd
from kd_ntk.train.loop import (check_batch_size, describe_model, model_from_config,
                               record_epoch, splits_from_config)
from kd_ntk.train.steps import train_step


class TeacherLogits:
  """Inference logits of teacher checkpoints on the evaluation sets, each
  checkpoint computed once: the final teacher is kept, others in a small LRU."""

  def __init__(self, restore, model, sets, batch_size, mesh, final_epoch, keep=3):
    self.restore, self.model, self.sets = restore, model, sets
    self.batch_size, self.mesh, self.final, self.keep = batch_size, mesh, final_epoch, keep
    self.cache: "collections.OrderedDict[int, Dict]" = collections.OrderedDict()

  def of_epoch(self, epoch: int) -> Dict[str, np.ndarray]:
    if epoch in self.cache:
      self.cache.move_to_end(epoch)
      return self.cache[epoch]
    self.cache[epoch] = student.logits_on(self.model, self.restore(epoch), self.sets,
                                          self.batch_size, self.mesh)
    others = [e for e in self.cache if e != self.final]
    for e in others[:max(len(others) - self.keep, 0)]:
      del self.cache[e]
    return self.cache[epoch]

  def of_pick(self, pick: TeacherPick) -> Dict[str, np.ndarray]:
    """Logits of a (possibly blended) pick: Σ_k w_k · z(epoch_k)."""
    parts = [self.of_epoch(e) for e in pick.epochs]
    return {s: sum(w * p[s] for w, p in zip(pick.weights, parts)) for s in self.sets}


def _fixed_arity(pick: TeacherPick, arity: int) -> TeacherPick:
  """Pads a single-checkpoint pick to `arity` entries (weight 0), so the step's
  argument structure, hence its compilation, never changes within a run."""
  pad = arity - len(pick.epochs)
  return TeacherPick(pick.epochs + pick.epochs[-1:] * pad, pick.weights + (0.0,) * pad)


def run(config: ml_collections.ConfigDict, workdir: str) -> List[Dict[str, Any]]:
  """Trains the student of `config` in `workdir`; returns all metric rows."""
  validation.check_training_config(config, workdir)  # Before anything is read or written.
  plan = plan_lib.make_plan(config, workdir)  # Only small files read so far.
  if plan.mode == "lockstep":
    from kd_ntk.distill import lockstep  # Keeps this module's imports acyclic.
    return lockstep.run(config, workdir, plan)
  splits = splits_from_config(config)
  num_classes, image_shape = splits.info.num_classes, splits.info.image_shape
  model = model_from_config(config, num_classes)
  mesh = data_mesh()
  check_batch_size(config.batch_size, mesh, len(splits.train_labels))
  if config.eval_batch_size % mesh.devices.size:
    raise ValueError(f"eval_batch_size={config.eval_batch_size} must be divisible by the "
                     f"{mesh.devices.size} devices.")
  steps_per_epoch = len(splits.train_labels) // config.batch_size
  plan_lib.check_checkpoints(plan, config.epochs, steps_per_epoch)
  restore = None
  if plan.has_teacher:
    _, teacher_model = teacher_io.load_run(plan.teacher_workdir, num_classes)

    def restore(epoch):
      return teacher_io.restore_variables(plan.teacher_workdir, epoch, image_shape, mesh,
                                          num_classes)

    teacher_fingerprint = binding.check(workdir, plan.teacher_workdir)  # Intact, unchanged.
    restore(plan.teacher_epochs)  # A teacher of another shape fails here, before claiming.
  resumed = wd.claim(workdir, config)
  if plan.has_teacher:
    binding.record(workdir, teacher_fingerprint)

  tx, lr_schedule = student.student_optimizer(config, steps_per_epoch)
  init, train_rng = student.initial_state(model, tx, config, image_shape, mesh)
  mngr = checkpoint.manager(workdir)
  state, latest = student.start_or_resume(mngr, init, mesh, resumed, workdir)
  sets = student.eval_sets(splits, config)
  teachers = (TeacherLogits(restore, teacher_model, sets, config.eval_batch_size, mesh,
                            plan.teacher_epochs) if plan.has_teacher else None)

  def eval_row(variables, epoch_for_pick: int, step_for_pick: int):
    """Evaluation metrics against the teacher of (epoch, step) and the final one."""
    start = time.time()
    pick = plan.schedule(epoch_for_pick, step_for_pick, steps_per_epoch)
    current = teachers.of_pick(pick) if pick is not None else None
    final = teachers.of_epoch(plan.teacher_epochs) if teachers else None
    logits = student.logits_on(model, variables, sets, config.eval_batch_size, mesh)
    row = student.evaluation_row(logits, sets, current, final)
    row["teacher_epoch"] = pick.last if pick is not None else None
    return row, time.time() - start

  if latest is None:
    checkpoint.save(mngr, 0, state)
    row, eval_seconds = eval_row(state.variables(), 1, 0)
    wd.truncate_metrics(workdir, -1)
    wd.append_metrics(workdir, {"epoch": 0, **row, "seconds": 0.0,
                                "eval_seconds": eval_seconds})
    latest = 0
  else:
    print(f"[{config.model}] resuming {workdir} from epoch {latest}", flush=True)
  describe_model(config.model, model, state.params, state.variables(), image_shape)
  if latest >= config.epochs:
    print(f"[{config.model}] {workdir} already finished ({latest} epochs).", flush=True)
    mngr.close()
    return wd.read_metrics(workdir)

  d = config.distill
  if plan.mode == "none":
    step_fn = jax.jit(functools.partial(train_step, model=model, tx=tx,
                                        label_smoothing=config.label_smoothing),
                      donate_argnums=0)
  else:
    step_fn = jit_distill_step(model=model, teacher_model=teacher_model, tx=tx,
                               scale_by_tau_squared=d.tau_squared,
                               label_smoothing=config.label_smoothing)
  arity = 2 if d.mode == "online" and d.granularity == "step_blend" else 1
  alpha = scalar(d.alpha)
  progress = wd.Progress(config.model, latest + 1, config.epochs)
  for epoch in range(latest + 1, config.epochs + 1):
    start = time.time()
    tau = plan.temperature(epoch)
    tau_arg, sums, current, args = scalar(tau), None, None, ()
    for step, (images, labels) in enumerate(train_batches(
        splits.train_images, splits.train_labels, config.batch_size, config.seed, epoch,
        config.augment.pad, config.augment.flip)):
      pick = plan.schedule(epoch, step, steps_per_epoch)
      if pick is not None and pick != current:  # Restore only when the teacher changes.
        current = pick
        padded = _fixed_arity(pick, arity)
        args = (tuple(restore(e) for e in padded.epochs),
                np.asarray(padded.weights, np.float32), tau_arg, alpha)
      state, step_metrics = step_fn(state, *shard_batch(mesh, images, labels), train_rng,
                                    *args)
      sums = student.add_sums(sums, step_metrics)
    row = student.train_row(sums, steps_per_epoch)  # Waits for the last step.
    train_seconds = time.time() - start
    student.check_finite(row, workdir, epoch, config)
    eval_metrics, eval_seconds = eval_row(state.variables(), epoch, steps_per_epoch - 1)
    row = {"epoch": epoch, **row, **eval_metrics,
           "temperature": tau if plan.mode != "none" else None,
           "learning_rate": float(lr_schedule(epoch * steps_per_epoch - 1)),
           "seconds": train_seconds, "eval_seconds": eval_seconds}
    student.check_finite(row, workdir, epoch, config)
    student.warn_if_chance_level(row, num_classes, epoch, config)
    record_epoch(mngr, workdir, epoch, state, row)
    progress.epoch_done(epoch, {k: row[k] for k in ("train_loss", "test_accuracy")})
  mngr.wait_until_finished()
  mngr.close()
  return wd.read_metrics(workdir)
