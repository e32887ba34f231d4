"""Many student runs in one process: what the seeds and arms of a grid share.

A `Shared` is handed to `kd_ntk.distill.loop.run(config, workdir, shared)` by
every run of a grid (`kd_ntk.experiment.student_runs`); a single run makes its
own. It keeps, keyed by everything they are a function of:

  * the data splits and evaluation sets (one load per data config),
  * the teacher's restored checkpoints and its logits on the evaluation sets
    (`TeacherTargets`, one per teacher run; each checkpoint read and evaluated
    once per process, not once per student),
  * the model, optimizer and jitted training step (one compilation per distinct
    step: model, optimizer, schedule length, loss), and the `Evaluator` of each
    model (one compilation of its inference step).

Everything kept is a pure function of its key, so a run's records (metrics
rows, checkpoints, checksums, teacher binding) are those of the same run made
alone; tests/distill/test_seed_grid.py checks that they are equal. A teacher
whose fingerprint (`kd_ntk.train.binding.fingerprint`: config and checkpoint
digests) changed between two runs of the grid is read again, never reused.

Keys are JSON texts of plain values: two configs that differ in a field the
shared object depends on never share it.
"""

import collections
import contextlib
import functools
import json
import time
from typing import Any

import jax

from kd_ntk.data import data_mesh
from kd_ntk.configs import fields
from kd_ntk.distill import student_rows
from kd_ntk.distill.optimizer import student_optimizer
from kd_ntk.distill.steps import jit_distill_step
from kd_ntk.distill.teacher_targets import TeacherTargets
from kd_ntk.train.evaluation import Evaluator
from kd_ntk.train.from_config import model_from_config, splits_from_config
from kd_ntk.train.steps import train_step

# Fields that provably do not reach a `Student` (its model, optimizer and
# step): every other field of the config and of its distill block is part of
# the key, so a field added later separates students until it is listed here.
# The mode enters only as labels-or-teacher ("kd"): offline, online, early and
# anchor students of one architecture, temperature and optimizer share one
# compiled step; α and τ are traced arguments of the step, but τ also scales
# the learning rate (distill.lr_scale), so it stays in the key.
NOT_IN_STEP = (
  "seed",
  "eval_every",
  "train_eval_size",
  "eval_batch_size",
  "augment",
) + fields.DATA_FIELDS
NOT_IN_STEP_DISTILL = (
  "mode",
  "teacher_workdir",
  "alpha",
  "early_epoch",
  "online_offset",
  "granularity",
  "anchor_epochs",
  "anchor_switch_epochs",
)


def _key(value) -> str:
  """A canonical text of a plain (JSON-able) value."""
  return json.dumps(value, sort_keys=True, default=str)


def _plain(value):
  """ConfigDicts and tuples as JSON values."""
  if hasattr(value, "to_dict"):
    value = value.to_dict()
  return json.loads(_key(value))


def data_key(config) -> str:
  return _key({f: _plain(config.get(f)) for f in fields.DATA_FIELDS})


def model_key(config, num_classes: int) -> str:
  return _key(
    {
      "model": config.model,
      "model_kwargs": _plain(config.get("model_kwargs") or {}),
      "num_classes": int(num_classes),
    }
  )


class Timer:
  """Seconds spent in named parts of the work, nested parts counted once.

  `with timer("evaluation"): ...` adds the block's wall time to "evaluation"
  and removes it from the enclosing block's part, so the parts add up to the
  time spent inside the outermost blocks. `moved(name, seconds)` books time
  measured elsewhere (e.g. XLA compilations, reported by JAX) to `name`,
  taking it from the part running now.
  """

  def __init__(self):
    self.seconds = collections.Counter()
    self._stack: list[str] = []

  @contextlib.contextmanager
  def __call__(self, name: str):
    self._stack.append(name)
    start = time.perf_counter()
    try:
      yield
    finally:
      spent = time.perf_counter() - start
      self._stack.pop()
      self.seconds[name] += spent
      if self._stack:
        self.seconds[self._stack[-1]] -= spent

  def moved(self, name: str, seconds: float) -> None:
    self.seconds[name] += seconds
    if self._stack:
      self.seconds[self._stack[-1]] -= seconds


class Student:
  """A student's model, optimizer and jitted step (see `Shared.student`)."""

  def __init__(self, config, teacher_model, steps_per_epoch: int):
    self.model = model_from_config(config, config.num_classes)
    self.tx, self.lr_schedule = student_optimizer(config, steps_per_epoch)
    if config.distill.mode == "none":
      self.step = jax.jit(
        functools.partial(
          train_step,
          model=self.model,
          tx=self.tx,
          label_smoothing=config.label_smoothing,
        ),
        donate_argnums=0,
      )
    else:
      self.step = jit_distill_step(
        model=self.model,
        teacher_model=teacher_model,
        tx=self.tx,
        scale_by_tau_squared=config.distill.tau_squared,
        label_smoothing=config.label_smoothing,
      )


class Shared:
  """The caches of one process's student runs (see the module docstring).

  Attributes:
    timer: the `Timer` of every run using this object (set-up, training,
      evaluation, teacher targets; the grid adds result rows).
    built: how many objects of each kind were made ("splits", "sets",
      "teachers", "students", "evaluators"); `reused` how many requests were
      answered from the cache. The benchmark and the tests read both.
  """

  def __init__(self):
    self._mesh = None
    self._splits: dict[str, Any] = {}
    self._sets: dict[tuple[str, int], dict] = {}
    self._teachers: dict[str, tuple[dict, TeacherTargets]] = {}
    self._students: dict[str, Student] = {}
    self._evaluators: dict[tuple[str, int], Evaluator] = {}
    self.built = collections.Counter()
    self.reused = collections.Counter()
    self.timer = Timer()

  def _get(self, table, key, kind: str, make):
    if key in table:
      self.reused[kind] += 1
      return table[key]
    self.built[kind] += 1
    table[key] = make()
    return table[key]

  def mesh(self):
    """The one-axis data mesh over every device (made once)."""
    if self._mesh is None:
      self._mesh = data_mesh()
    return self._mesh

  def splits(self, config):
    """`splits_from_config(config)`, loaded once per data config."""
    return self._get(
      self._splits,
      data_key(config),
      "splits",
      lambda: splits_from_config(config),
    )

  def eval_sets(self, config, splits) -> dict[str, tuple]:
    """`student_rows.eval_sets`, once per (data config, train_eval_size)."""
    key = (data_key(config), int(config.train_eval_size))
    return self._get(
      self._sets, key, "sets", lambda: student_rows.eval_sets(splits, config)
    )

  def teachers(
    self, config, plan, sets, fingerprint: dict[str, Any]
  ) -> TeacherTargets:
    """The `TeacherTargets` of the plan's teacher for these evaluation sets.

    `fingerprint` is the teacher's, as `kd_ntk.train.binding.check` returned it
    for this run: a cached entry made under another fingerprint is dropped.
    None (after a run of the grid checked it: the margin loss) takes the
    cached entry as it is.
    """
    key = _key(
      {
        "teacher": plan.teacher_workdir,
        "data": data_key(config),
        "train_eval_size": int(config.train_eval_size),
        "num_classes": int(config.num_classes),
        "input_shape": list(config.input_shape),
        "eval_batch_size": int(config.eval_batch_size),
        "final": int(plan.teacher_epochs),
      }
    )
    entry = self._teachers.get(key)
    if (
      entry is not None and fingerprint is not None and entry[0] != fingerprint
    ):
      del self._teachers[key]  # The teacher changed on disk: read it again.
    make = lambda: (
      fingerprint,
      TeacherTargets(
        plan.teacher_workdir,
        num_classes=config.num_classes,
        input_shape=config.input_shape,
        sets=sets,
        batch_size=config.eval_batch_size,
        mesh=self.mesh(),
        final_epoch=plan.teacher_epochs,
        keep=plan.teacher_epochs + 1,
      ),
    )
    return self._get(self._teachers, key, "teachers", make)[1]

  def student(self, config, teachers, steps_per_epoch: int) -> Student:
    """The model, optimizer and jitted step of `config`'s student, made once
    per distinct config (less `NOT_IN_STEP` fields), step count and teacher
    model."""
    plain = _plain(config)
    distill = plain.pop("distill")
    key = _key(
      {
        **{k: v for k, v in plain.items() if k not in NOT_IN_STEP},
        "distill": {
          k: v for k, v in distill.items() if k not in NOT_IN_STEP_DISTILL
        },
        "kd": config.distill.mode != "none",
        "steps_per_epoch": int(steps_per_epoch),
        "teacher": (
          model_key(teachers.reader.config, config.num_classes)
          if teachers
          else None
        ),
      }
    )
    make = lambda: Student(
      config, teachers.model if teachers else None, steps_per_epoch
    )
    return self._get(self._students, key, "students", make)

  def evaluator(self, config, model) -> Evaluator:
    """The `Evaluator` of a student model at the config's eval batch size."""
    key = (model_key(config, config.num_classes), int(config.eval_batch_size))
    return self._get(
      self._evaluators,
      key,
      "evaluators",
      lambda: Evaluator(model, config.eval_batch_size, self.mesh()),
    )
