"""The checks of a complexity run and of a reproduction, before either
touches anything; for a complexity run they also return the epochs and
kernels it will compute.

Both collect the problems of their config's own fields first
(`kd_ntk.configs.validation`) and raise them as one `ConfigError`; then they
check what needs the filesystem and the other runs: the teacher and student
run directories exist and were trained on the same examples and the same
copy of the data, and the workdir can be written. A reproduction's fields
are checked first thing in `reproduction_plan.plan_of`
(`check_reproduce_fields`); `check_reproduce_runs` then checks every teacher
and student config of the plan, once: its runs check only their own
workdirs (`kd_ntk.train.preflight.check_run_inputs`).
Nothing is written; a refused command leaves every workdir as it was.
"""

import os

import ml_collections

from kd_ntk.configs.common import ConfigError
from kd_ntk.configs.run_inputs import check_examples_fit, describe_data
from kd_ntk.configs.validation import (
  complexity_problems,
  data_mismatch,
  reproduce_problems,
)
from kd_ntk.distill import plan as distill_plan
from kd_ntk.experiment import complexity_inputs as inputs
from kd_ntk.ntk import kernel_choice
from kd_ntk.train import workdir as wd
from kd_ntk.train.preflight import check_training_config


def _raise_if_any(items: list[str]) -> None:
  if items:
    raise ConfigError("config: " + "; ".join(items) + ".")


def _check_run_dir(path: str, what: str = "") -> None:
  if not os.path.isdir(path):
    raise FileNotFoundError(f"Run directory {path} does not exist{what}.")


def _check_epochs(workdir: str, wanted, what: str) -> list[int]:
  saved = inputs.saved_epochs(workdir)
  if not saved:
    raise FileNotFoundError(f"{workdir} holds no {what} checkpoints.")
  epochs = list(wanted) or saved
  missing = sorted(set(epochs) - set(saved))
  if missing:
    raise ValueError(
      f"{what.capitalize()} epochs {missing} are not saved in {workdir} "
      f"(saved: {saved})."
    )
  return epochs


def _complexity_plan(
  config: ml_collections.ConfigDict,
) -> tuple[list[int], list[int], tuple[str, ...]]:
  """Checks runs, epochs, kernels and counts; returns (teacher epochs, student
  epochs, kernels). The teacher workdir, the temperatures and num_examples
  were checked with the fields (`complexity_problems`)."""
  kernels = kernel_choice.kernel_names(config.kernel)
  for field in (
    "num_subsets",
    "num_random_draws",
    "mc_samples",
  ):
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(
        f"config.{field} must be a positive integer; got {value!r}."
      )
  teacher_epochs = _check_epochs(
    config.teacher_workdir, config.teacher_epochs, "teacher"
  )
  if config.student_workdir:
    student_epochs = _check_epochs(
      config.student_workdir, config.student_epochs, "student"
    )
  else:
    student_epochs = [0]
  teacher_config, _ = inputs.load_run(config.teacher_workdir)
  name, kwargs, _ = inputs.student_model(
    config, inputs.num_classes_of(teacher_config)
  )
  kernel_choice.check_kernels(
    kernels, name, kwargs, config.twin_parameterization
  )
  kernel_choice.GramOptions.from_config(config)  # Refuses e.g. ntvp + float64.
  return teacher_epochs, student_epochs, kernels


def check_complexity_config(
  config: ml_collections.ConfigDict, workdir: str
) -> tuple[list[int], list[int], tuple[str, ...]]:
  """Raises ConfigError for a bad complexity config, a student run trained on
  other data or classes than the teacher, an unwritable workdir, missing
  checkpoints or a kernel the student cannot have; returns (teacher epochs,
  student epochs, kernel names) to compute."""
  _raise_if_any(complexity_problems(config))
  teacher = config.teacher_workdir
  _check_run_dir(teacher, " (teacher_workdir); pass a run of train_teacher.py")
  check_examples_fit(
    config.num_examples, wd.load_config(teacher), "num_examples"
  )
  if config.student_workdir:
    student = config.student_workdir
    _check_run_dir(student)
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
  return _complexity_plan(config)


def check_reproduce_fields(config: ml_collections.ConfigDict) -> None:
  """Raises one ConfigError listing every problem of a reproduction config's
  own fields (`kd_ntk.configs.validation.reproduce_problems`)."""
  _raise_if_any(reproduce_problems(config))


def check_reproduce_runs(plan, workdir: str) -> None:
  """Checks the teacher config, the complexity subsets' size and every
  (label, run config) the plan will run (`Plan.student_configs`), then the
  workdir; reads and writes nothing."""
  check_training_config(plan.teacher)
  check_examples_fit(
    plan.kernels.block.num_examples, plan.teacher, "complexity.num_examples"
  )
  for label, student in plan.student_configs():
    try:
      check_training_config(student)
      if "distill" in student:
        distill_plan.check_fields(student)
    except ValueError as err:
      raise ConfigError(f"{label}: {err}") from None
  wd.check_writable(workdir)
