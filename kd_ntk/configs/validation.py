"""Whole-config checks that run before a workdir is touched or data is loaded.

`check_training_config` (teacher and student runs), `check_complexity_config`
and `check_reproduce_config` collect every problem of a config and raise one
`ConfigError` (a ValueError) listing them, e.g.

  config: epochs=0 must be an integer >= 1; optimizer.momentum=5 must lie in [0, 1).

So a refused command leaves its workdir exactly as it was, and the corrected
command simply runs.
"""

import math
import os
from typing import Iterable, List, Optional, Tuple

import jax
import ml_collections

from kd_ntk.configs.common import ConfigError
from kd_ntk.configs.run_inputs import (
  KNOWN_SIZES,
  merge_non_finite,
  describe_data,
  check_data_location,
  check_examples_fit,
)
from kd_ntk.train import workdir as wd

SCHEDULES = ("cosine", "step", "constant")
SOLVERS = ("cholesky", "eigh")
NTK_METHODS = ("auto", "jacobian", "structured", "ntvp")
# Fields that select a run's training examples (a student or a complexity
# student must match its teacher in all of them).
DATA_FIELDS = (
  "dataset",
  "data_source",
  "train_subset",
  "subset_seed",
  "classes",
)


class _Problems:
  """Collects "name=value must ..." phrases under a prefix ("", "distill.teacher.")."""

  def __init__(self, prefix: str = ""):
    self.prefix, self.items = prefix, []

  def add(self, name: str, value, requirement: str) -> None:
    self.items.append(f"{self.prefix}{name}={value!r} {requirement}")

  def integer(self, config, name: str, minimum: int) -> bool:
    value = config.get(name)
    if not _is_int(value) or value < minimum:
      self.add(name, value, f"must be an integer >= {minimum}")
      return False
    return True

  def number(
    self,
    config,
    name: str,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = True,
  ) -> None:
    value = config.get(name)
    ok = (
      _is_number(value)
      and math.isfinite(value)
      and (value > low if low_open else value >= low)
      and (value < high if high_open else value <= high)
    )
    if not ok:
      left, right = "(" if low_open else "[", ")" if high_open else "]"
      span = (
        f"must be > {low:g}"
        if high == math.inf and low_open
        else f"must be >= {low:g}"
        if high == math.inf
        else f"must lie in {left}{low:g}, {high:g}{right}"
      )
      self.add(name, value, span)

  def choice(self, config, name: str, choices) -> None:
    if config.get(name) not in choices:
      self.add(name, config.get(name), f"must be one of {list(choices)}")

  def raise_if_any(self, what: str = "config") -> None:
    if self.items:
      raise ConfigError(f"{what}: " + "; ".join(self.items) + ".")


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _device_count() -> int:
  return jax.device_count()


def _data_checks(config, problems: _Problems) -> None:
  """Subsets non-negative (0 = all) and no larger than the data; a valid class selection."""
  problems.integer(config, "subset_seed", 0)
  sizes = KNOWN_SIZES.get(config.get("dataset"))
  classes = tuple(config.get("classes") or ())
  if classes:
    known = sizes[2] if sizes else None
    if (
      len(set(classes)) != len(classes)
      or len(classes) < 2
      or not all(
        _is_int(c) and c >= 0 and (known is None or c < known) for c in classes
      )
    ):
      problems.add(
        "classes",
        classes,
        "must be >= 2 distinct class indices"
        + (f" in 0..{known - 1}" if known else ""),
      )
      classes = ()
  for name, index in (("train_subset", 0), ("test_subset", 1)):
    if not problems.integer(config, name, 0):
      continue
    if sizes and config.get(name):
      available = (
        sizes[index] * len(classes) // sizes[2] if classes else sizes[index]
      )
      if config.get(name) > available:
        problems.add(
          name,
          config.get(name),
          f"exceeds the {available} {name.split('_')[0]} "
          f"examples of {config.dataset} (0 = all)",
        )
  augment = config.get("augment")
  if augment is not None and not (
    _is_int(augment.get("pad")) and augment.get("pad") >= 0
  ):
    problems.add("augment.pad", augment.get("pad"), "must be an integer >= 0")


def _optimizer_checks(opt, problems: _Problems) -> None:
  problems.number(opt, "learning_rate", 0.0, low_open=True)
  problems.number(opt, "momentum", 0.0, 1.0)
  problems.number(opt, "weight_decay", 0.0)
  problems.number(opt, "warmup_epochs", 0.0)
  problems.choice(opt, "schedule", SCHEDULES)
  if opt.get("schedule") == "step":
    problems.number(opt, "step_factor", 0.0, low_open=True)
    boundaries = opt.get("step_boundaries")
    if not isinstance(boundaries, (tuple, list)) or not all(
      _is_number(b) and 0.0 <= b <= 1.0 for b in boundaries
    ):
      problems.add(
        "step_boundaries", boundaries, "must be fractions of training in [0, 1]"
      )


def _model_checks(
  config, problems: _Problems, num_classes: Optional[int]
) -> None:
  from kd_ntk.models import get_model  # Lazy: keeps config parsing light.

  kwargs = config.get("model_kwargs") or {}
  if isinstance(kwargs, ml_collections.ConfigDict):
    kwargs = kwargs.to_dict()
  for key, value in kwargs.items():
    values = value if isinstance(value, (tuple, list)) else (value,)
    if key == "dropout":
      if not all(_is_number(v) and 0 <= v < 1 for v in values):
        problems.add(f"model_kwargs.{key}", value, "must lie in [0, 1)")
    elif any(_is_number(v) and not v > 0 for v in values):
      problems.add(f"model_kwargs.{key}", value, "must be positive")
  try:
    get_model(
      config.get("model"),
      num_classes or 10,
      **{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()},
    )
  except (ValueError, TypeError) as err:
    problems.items.append(f"{problems.prefix}{err}".rstrip("."))


def training_problems(
  config: ml_collections.ConfigDict, prefix: str = ""
) -> List[str]:
  """Every problem of a teacher or student config (no files read)."""
  problems = _Problems(prefix)
  problems.integer(config, "epochs", 1)
  devices = _device_count()
  for name in ("batch_size", "eval_batch_size"):
    if problems.integer(config, name, 1) and config.get(name) % devices:
      problems.add(
        name, config.get(name), f"must be divisible by the {devices} devices"
      )
  problems.integer(config, "seed", 0)
  problems.number(config, "label_smoothing", 0.0, 1.0)
  if "train_eval_size" in config:
    problems.integer(config, "train_eval_size", 0)
  _data_checks(config, problems)
  opt_problems = _Problems(prefix + "optimizer.")
  _optimizer_checks(config.optimizer, opt_problems)
  problems.items += opt_problems.items
  sizes = KNOWN_SIZES.get(config.get("dataset"))
  classes = tuple(config.get("classes") or ())
  _model_checks(
    config, problems, len(classes) if classes else (sizes[2] if sizes else None)
  )
  return problems.items


def check_training_config(
  config: ml_collections.ConfigDict, workdir: Optional[str] = None
) -> None:
  """Raises ConfigError listing every problem of a teacher or student config,
  then checks that `workdir` can be written. Reads no files, writes nothing."""
  items = training_problems(config)
  teacher = (
    config.get("distill", {}).get("teacher") if "distill" in config else None
  )
  if teacher is not None:  # Lock-step: the teacher trained beside the student.
    items += training_problems(teacher, prefix="distill.teacher.")
  items = merge_non_finite(items, config)
  if items:
    raise ConfigError("config: " + "; ".join(items) + ".")
  if workdir is not None:
    wd.check_writable(workdir)
    check_data_location(config, workdir)


def data_mismatch(
  student: ml_collections.ConfigDict, teacher: ml_collections.ConfigDict
) -> List[str]:
  """ "field: student X vs teacher Y" for each data field in which two runs differ."""

  def field(config, key):
    value = config.get(key)
    if key == "classes":
      return tuple(value or ())
    return tuple(value) if isinstance(value, list) else value

  return [
    f"{k}: student {field(student, k)!r} vs teacher {field(teacher, k)!r}"
    for k in DATA_FIELDS
    if field(student, k) != field(teacher, k)
  ]


def check_complexity_config(
  config: ml_collections.ConfigDict, workdir: str
) -> None:
  """Raises ConfigError for a bad complexity config, a student run trained on
  other data or classes than the teacher, or an unwritable workdir."""
  problems = _Problems()
  problems.integer(config, "num_examples", 2)
  problems.integer(config, "eval_batch_size", 1)
  problems.integer(config, "ntk_block_size", 0)
  problems.integer(config, "student_seed", 0)
  problems.integer(config, "subset_seed", 0)
  problems.number(config, "ridge", 0.0, low_open=True)
  problems.number(config, "bound_gamma", 0.0, low_open=True)
  problems.number(config, "bound_delta", 0.0, 1.0, low_open=True)
  problems.choice(config, "solver", SOLVERS)
  problems.choice(config, "ntk_method", NTK_METHODS)
  for name in ("temperatures", "ridge_path"):
    values = config.get(name)
    if not isinstance(values, (tuple, list)) or not all(
      _is_number(v) and math.isfinite(v) and v > 0 for v in values
    ):
      problems.add(name, values, "must be positive numbers")
  if not config.get("teacher_workdir"):
    problems.items.append(
      "teacher_workdir is required (a run of train_teacher.py)"
    )
  problems.items = merge_non_finite(problems.items, config)
  problems.raise_if_any()
  teacher_dir = config.teacher_workdir
  if not os.path.isdir(teacher_dir):
    raise FileNotFoundError(
      f"Run directory {teacher_dir} does not exist (teacher_workdir); pass a "
      "run of train_teacher.py."
    )
  check_examples_fit(
    config.num_examples, wd.load_config(teacher_dir), "num_examples"
  )
  if config.student_workdir:
    teacher, student = config.teacher_workdir, config.student_workdir
    for path in (teacher, student):
      if not os.path.isdir(path):
        raise FileNotFoundError(f"Run directory {path} does not exist.")
    diffs = data_mismatch(wd.load_config(student), wd.load_config(teacher))
    if diffs:
      raise ConfigError(
        f"The student run {student} was trained on other data or classes "
        f"than the teacher run {teacher} ({'; '.join(diffs)}); the "
        "complexity of a teacher is measured on the student's own "
        "training data: pass a student of this teacher."
      )
    theirs, mine = wd.recorded_data(teacher), wd.recorded_data(student)
    if theirs and mine and theirs.get("location") != mine.get("location"):
      raise ConfigError(
        f"The student run {student} was trained on the data in "
        f"{describe_data(mine)}, the teacher run {teacher} on "
        f"{describe_data(theirs)}; "
        "pass a student trained on the teacher's copy of the data."
      )
  wd.check_writable(workdir)


def reproduce_complexity_problems(block) -> List[str]:
  """Every problem of a reproduction's `complexity` block (no files read)."""
  problems = _Problems("complexity.")
  problems.integer(block, "num_examples", 2)
  problems.integer(block, "num_subsets", 1)
  problems.integer(block, "eval_batch_size", 1)
  problems.integer(block, "teacher_epoch_stride", 1)
  problems.integer(block, "student_epoch_stride", 1)
  problems.integer(block, "student_width", 0)
  problems.number(block, "gamma", 0.0, low_open=True)
  values = block.get("temperatures")
  if (
    not isinstance(values, (tuple, list))
    or not values
    or not all(_is_number(v) and math.isfinite(v) and v > 0 for v in values)
  ):
    problems.add("temperatures", values, "must be positive numbers")
  return problems.items


def check_reproduce_config(
  config: ml_collections.ConfigDict,
  workdir: str,
  student_configs: Iterable[Tuple[str, ml_collections.ConfigDict]],
) -> None:
  """Checks the seeds, the teacher config and every (label, student config) the
  grid will run (built by kd_ntk.experiment.reproduce.student_configs), then the
  workdir."""
  from kd_ntk.distill import plan  # Lazy: plan imports this module.

  problems = _Problems()
  seeds = config.get("seeds")
  if not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
    problems.add("seeds", seeds, "must be one or more integers >= 0")
  if "complexity" in config:
    problems.items += reproduce_complexity_problems(config.complexity)
  problems.items = merge_non_finite(problems.items, config)
  problems.raise_if_any()
  check_training_config(config.teacher)
  if "complexity" in config:
    check_examples_fit(
      config.complexity.num_examples, config.teacher, "complexity.num_examples"
    )
  for label, student in student_configs:
    try:
      check_training_config(student)
      if "distill" in student:
        plan.check_fields(student)
    except ValueError as err:
      raise ConfigError(f"{label}: {err}") from None
  wd.check_writable(workdir)
