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
"""

import functools
import time
from typing import Any, Dict, List

import jax
import ml_collections
import numpy as np

from kd_ntk import metrics
from kd_ntk.data import data_mesh, shard_batch, train_batches
from kd_ntk.distill import student
from kd_ntk.distill.steps import jit_distill_step, scalar
from kd_ntk.train import checkpoint, workdir as wd
from kd_ntk.train.loop import (check_batch_size, describe_model, model_from_config, record_epoch,
                               replicate, splits_from_config)
from kd_ntk.train.state import learning_rate_schedule, make_optimizer
from kd_ntk.train.steps import train_step


def _teacher_row(epoch, sums, steps, logits, sets, lr, seconds) -> Dict[str, Any]:
  """The row `train.loop.run` writes for a teacher epoch."""
  row = {"epoch": epoch, "test_loss": metrics.cross_entropy(logits["test"], sets["test"][1]),
         "test_accuracy": metrics.accuracy(logits["test"], sets["test"][1]),
         "seconds": seconds}
  if sums is not None:
    host = jax.device_get(sums)
    row.update(train_loss=float(host["loss"]) / steps,
               train_accuracy=float(host["accuracy"]) / steps, learning_rate=lr)
  return row


def _resume_teacher(mngr, init, mesh, tdir: str, latest):
  """The teacher state at the student's epoch; later teacher epochs are discarded."""
  if latest is None:
    for step in mngr.all_steps():  # A run that crashed before its first student save.
      mngr.delete(step)
    wd.truncate_metrics(tdir, -1)
    return replicate(init(), mesh)
  for step in mngr.all_steps():
    if step > latest:
      mngr.delete(step)
  wd.truncate_metrics(tdir, latest)
  abstract = checkpoint.abstract_replicated(jax.eval_shape(init), mesh)
  return checkpoint.restore(mngr, latest, abstract)


def run(config: ml_collections.ConfigDict, workdir: str, plan) -> List[Dict[str, Any]]:
  """Lock-step run of `config` (validated into `plan` by `distill.loop.run`)."""
  tconfig = plan.teacher_config
  d = config.distill
  splits = splits_from_config(config)
  num_classes, image_shape = splits.info.num_classes, splits.info.image_shape
  n = len(splits.train_labels)
  model, teacher_model = (model_from_config(config, num_classes),
                          model_from_config(tconfig, num_classes))
  mesh = data_mesh()
  for size in (config.batch_size, tconfig.batch_size):
    check_batch_size(size, mesh, n)
  resumed = wd.claim(workdir, config)
  tdir = plan.teacher_workdir
  wd.claim(tdir, tconfig)

  s_steps, t_steps = n // config.batch_size, n // tconfig.batch_size
  s_tx, s_lr = student.student_optimizer(config, s_steps)
  t_tx = make_optimizer(tconfig.optimizer, t_steps, tconfig.epochs)
  t_lr = learning_rate_schedule(tconfig.optimizer, t_steps, tconfig.epochs)
  s_init, s_rng = student.initial_state(model, s_tx, config, image_shape, mesh)
  t_init, t_rng = student.initial_state(teacher_model, t_tx, tconfig, image_shape, mesh)
  s_mngr, t_mngr = checkpoint.manager(workdir), checkpoint.manager(tdir)
  s_state, latest = student.start_or_resume(s_mngr, s_init, mesh, resumed, workdir)
  t_state = _resume_teacher(t_mngr, t_init, mesh, tdir, latest)
  sets = student.eval_sets(splits, config)
  logits_of = functools.partial(student.logits_on, sets=sets,
                                batch_size=config.eval_batch_size, mesh=mesh)
  t_logits = logits_of(teacher_model, t_state.variables())  # The teacher now.

  if latest is None:
    checkpoint.save(t_mngr, 0, t_state)
    wd.append_metrics(tdir, _teacher_row(0, None, t_steps, t_logits, sets, None, 0.0))
    checkpoint.save(s_mngr, 0, s_state)
    row = student.evaluation_row(logits_of(model, s_state.variables()), sets, t_logits)
    wd.truncate_metrics(workdir, -1)
    wd.append_metrics(workdir, {"epoch": 0, **row, "teacher_epoch": 0, "seconds": 0.0})
    latest = 0
  describe_model(config.model, model, s_state.params, s_state.variables(), image_shape)
  if latest >= config.epochs:
    for mngr in (s_mngr, t_mngr):
      mngr.close()
    return wd.read_metrics(workdir)

  t_step = jax.jit(functools.partial(train_step, model=teacher_model, tx=t_tx,
                                     label_smoothing=tconfig.label_smoothing),
                   donate_argnums=0)
  s_step = jit_distill_step(model=model, teacher_model=teacher_model, tx=s_tx,
                            scale_by_tau_squared=d.tau_squared,
                            label_smoothing=config.label_smoothing)
  weights, alpha = np.ones(1, np.float32), scalar(d.alpha)
  teacher_first = d.online_offset == 0
  progress = wd.Progress(config.model, latest + 1, config.epochs)

  def teacher_epoch(t_state, epoch):
    sums = None
    for images, labels in train_batches(splits.train_images, splits.train_labels,
                                        tconfig.batch_size, tconfig.seed, epoch,
                                        tconfig.augment.pad, tconfig.augment.flip):
      t_state, m = t_step(t_state, *shard_batch(mesh, images, labels), t_rng)
      sums = student.add_sums(sums, m)
    return t_state, sums

  def student_epoch(s_state, t_state, epoch, tau):
    sums = None
    for images, labels in train_batches(splits.train_images, splits.train_labels,
                                        config.batch_size, config.seed, epoch,
                                        config.augment.pad, config.augment.flip):
      s_state, m = s_step(s_state, *shard_batch(mesh, images, labels), s_rng,
                          (t_state.variables(),), weights, tau, alpha)
      sums = student.add_sums(sums, m)
    return s_state, sums

  def both_per_step(s_state, t_state, epoch, tau):
    s_sums = t_sums = None
    for images, labels in train_batches(splits.train_images, splits.train_labels,
                                        config.batch_size, config.seed, epoch,
                                        config.augment.pad, config.augment.flip):
      batch = shard_batch(mesh, images, labels)
      if teacher_first:
        t_state, t_m = t_step(t_state, *batch, t_rng)
      s_state, s_m = s_step(s_state, *batch, s_rng, (t_state.variables(),), weights, tau,
                            alpha)
      if not teacher_first:
        t_state, t_m = t_step(t_state, *batch, t_rng)
      s_sums, t_sums = student.add_sums(s_sums, s_m), student.add_sums(t_sums, t_m)
    return s_state, t_state, s_sums, t_sums

  for epoch in range(latest + 1, config.epochs + 1):
    tau = plan.temperature(epoch)
    start = time.time()
    per_step = d.granularity == "step"
    if per_step:
      s_state, t_state, s_sums, t_sums = both_per_step(s_state, t_state, epoch, scalar(tau))
    elif teacher_first:
      t_state, t_sums = teacher_epoch(t_state, epoch)
      s_state, s_sums = student_epoch(s_state, t_state, epoch, scalar(tau))
    else:
      s_state, s_sums = student_epoch(s_state, t_state, epoch, scalar(tau))
      t_state, t_sums = teacher_epoch(t_state, epoch)
    jax.block_until_ready((s_state, t_state))  # Time the work, not its dispatch.
    seconds, eval_start = time.time() - start, time.time()
    # The teacher that taught this epoch: the one now (offset 0, or per step, where
    # it taught the last step), else the one of the start of the epoch.
    previous, t_logits = t_logits, logits_of(teacher_model, t_state.variables())
    current = t_logits if teacher_first or per_step else previous
    row = student.train_row(s_sums, s_steps)
    student.check_finite(row, workdir, epoch, config)
    row = {"epoch": epoch, **row,
           **student.evaluation_row(logits_of(model, s_state.variables()), sets, current),
           "teacher_epoch": epoch if teacher_first or per_step else epoch - 1,
           "temperature": tau,
           "learning_rate": float(s_lr(epoch * s_steps - 1)), "seconds": seconds,
           "eval_seconds": time.time() - eval_start}
    student.check_finite(row, workdir, epoch, config)
    t_row = _teacher_row(epoch, t_sums, s_steps if per_step else t_steps,
                         t_logits, sets, float(t_lr(epoch * t_steps - 1)), seconds)
    if not np.isfinite(t_row["train_loss"]):
      raise FloatingPointError(f"The lock-step teacher diverged at epoch {epoch}; lower "
                               "distill.teacher.optimizer.learning_rate.")
    record_epoch(t_mngr, tdir, epoch, t_state, t_row)
    record_epoch(s_mngr, workdir, epoch, s_state, row)
    progress.epoch_done(epoch, {k: row[k] for k in ("train_loss", "test_accuracy")})
  for mngr in (s_mngr, t_mngr):
    mngr.wait_until_finished()
    mngr.close()
  return wd.read_metrics(workdir)
