"""Checks of a config's own fields: pure functions of the config, no files,
no devices, no models.

Each `*_problems` function collects every problem as a phrase, e.g.

  epochs=0 must be an integer >= 1; optimizer.momentum=5 must lie in [0, 1)

and the run layer joins them into one `ConfigError` before anything is read
or written (`kd_ntk.train.preflight` for teacher and student runs,
`kd_ntk.experiment.preflight` for complexity runs and the reproduction, which
add the checks that need the filesystem, the devices or the model). So a
refused command leaves its workdir exactly as it was, and the corrected
command simply runs.
"""

import math

import ml_collections

from kd_ntk.configs import fields
from kd_ntk.configs.common import ConfigError
from kd_ntk.configs.run_inputs import KNOWN_SIZES, merge_non_finite

SCHEDULES = ("cosine", "step", "constant")
SOLVERS = ("cholesky", "eigh")
NTK_METHODS = ("auto", "jacobian", "structured", "ntvp")


class _Problems:
  """Collects "name=value must ..." phrases under a prefix ("",
  "distill.teacher.")."""

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
    *,
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


def _data_checks(config, problems: _Problems) -> None:
  """Subsets non-negative (0 = all) and no larger than the data; a valid class
  selection."""
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


def training_problems(
  config: ml_collections.ConfigDict, prefix: str = ""
) -> list[str]:
  """Every problem of a teacher or student config's own fields."""
  problems = _Problems(prefix)
  problems.integer(config, "epochs", 1)
  for name in ("batch_size", "eval_batch_size"):
    problems.integer(config, name, 1)
  problems.integer(config, "seed", 0)
  problems.number(config, "label_smoothing", 0.0, 1.0)
  if "train_eval_size" in config:
    problems.integer(config, "train_eval_size", 0)
  _data_checks(config, problems)
  opt_problems = _Problems(prefix + "optimizer.")
  _optimizer_checks(config.optimizer, opt_problems)
  problems.items += opt_problems.items
  return problems.items


def num_classes_of(config) -> int | None:
  """The classes a config's data has, when known without loading it."""
  sizes = KNOWN_SIZES.get(config.get("dataset"))
  classes = tuple(config.get("classes") or ())
  return len(classes) if classes else (sizes[2] if sizes else None)


def data_mismatch(
  student: ml_collections.ConfigDict, teacher: ml_collections.ConfigDict
) -> list[str]:
  """ "field: student X vs teacher Y" for each data field in which two runs
  differ."""

  def field(config, key):
    value = config.get(key)
    if key == "classes":
      return tuple(value or ())
    return tuple(value) if isinstance(value, list) else value

  return [
    f"{k}: student {field(student, k)!r} vs teacher {field(teacher, k)!r}"
    for k in fields.EXAMPLE_FIELDS
    if field(student, k) != field(teacher, k)
  ]


def complexity_problems(config: ml_collections.ConfigDict) -> list[str]:
  """Every problem of a complexity run config's own fields."""
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
  return merge_non_finite(problems.items, config)


def reproduce_complexity_problems(block) -> list[str]:
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


def reproduce_problems(config: ml_collections.ConfigDict) -> list[str]:
  """Every problem of a reproduction config's own top-level fields (its
  teacher and student configs are checked as training configs)."""
  problems = _Problems()
  for name, block in (
    ("seeds", config),
    ("binary.seeds", config.get("binary")),
  ):
    seeds = block.get("seeds") if block is not None else None
    if block is not None and (
      not seeds or not all(_is_int(s) and s >= 0 for s in seeds)
    ):
      problems.add(name, seeds, "must be one or more integers >= 0")
  if "complexity" in config:
    problems.items += reproduce_complexity_problems(config.complexity)
  return merge_non_finite(problems.items, config)
