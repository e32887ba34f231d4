"""The checks of a teacher or student run before it touches anything.

`check_training_config(config, workdir)` raises one `ConfigError` listing
every problem of the config: its own fields (`kd_ntk.configs.validation`),
then what needs the machine and the code: batch sizes divisible by the
devices, a model preset that builds with these keyword arguments, no NaN or
±Inf anywhere. It then checks what needs the filesystem
(`check_run_inputs`): the workdir can be written, and the data copy the run
reads is the one its workdir (on a resume) and its teacher were trained on.
It reads small files only and writes nothing, so a refused command leaves the
workdir exactly as it was.

A caller that has already checked the config's fields (the reproduction
checks every student config once, before its first run) calls
`check_run_inputs` alone for each run.
"""

import os

import jax
import ml_collections

from kd_ntk.configs.common import ConfigError
from kd_ntk.configs.run_inputs import describe_data, merge_non_finite
from kd_ntk.configs.validation import num_classes_of, training_problems
from kd_ntk.train import workdir as wd


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def device_problems(config, prefix: str = "") -> list[str]:
  """Batch sizes that the devices of this process group cannot split."""
  devices = jax.device_count()
  return [
    f"{prefix}{name}={config.get(name)!r} must be divisible by the "
    f"{devices} devices"
    for name in ("batch_size", "eval_batch_size")
    if isinstance(config.get(name), int)
    and not isinstance(config.get(name), bool)
    and config.get(name) >= 1
    and config.get(name) % devices
  ]


def model_problems(config, prefix: str = "") -> list[str]:
  """Model keyword arguments out of range, or a preset that does not build."""
  from kd_ntk.models import get_model  # Lazy: flax only when a run is checked.

  kwargs = config.get("model_kwargs") or {}
  if isinstance(kwargs, ml_collections.ConfigDict):
    kwargs = kwargs.to_dict()
  found = []
  for key, value in kwargs.items():
    values = value if isinstance(value, (tuple, list)) else (value,)
    if key == "dropout":
      if not all(_is_number(v) and 0 <= v < 1 for v in values):
        found.append(f"{prefix}model_kwargs.{key}={value!r} must lie in [0, 1)")
    elif any(_is_number(v) and not v > 0 for v in values):
      found.append(f"{prefix}model_kwargs.{key}={value!r} must be positive")
  try:
    get_model(
      config.get("model"),
      num_classes_of(config) or 10,
      **{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()},
    )
  except (ValueError, TypeError) as err:
    found.append(f"{prefix}{err}".rstrip("."))
  return found


def training_config_problems(config: ml_collections.ConfigDict) -> list[str]:
  """Every problem of a teacher or student config, its lock-step teacher's
  included (no files read)."""
  items = []
  parts = [(config, "")]
  teacher = (
    config.get("distill", {}).get("teacher") if "distill" in config else None
  )
  if teacher is not None:  # Lock-step: the teacher trained beside the student.
    parts.append((teacher, "distill.teacher."))
  for part, prefix in parts:
    items += training_problems(part, prefix=prefix)
    items += device_problems(part, prefix)
    items += model_problems(part, prefix)
  return merge_non_finite(items, config)


def check_training_config(
  config: ml_collections.ConfigDict, workdir: str | None = None
) -> None:
  """Raises ConfigError listing every problem of a teacher or student config,
  then (with a `workdir`) `check_run_inputs`. Reads no files, writes nothing."""
  items = training_config_problems(config)
  if items:
    raise ConfigError("config: " + "; ".join(items) + ".")
  if workdir is not None:
    check_run_inputs(config, workdir)


def check_run_inputs(config: ml_collections.ConfigDict, workdir: str) -> None:
  """The workdir can be written, and the data copy is the run's own."""
  wd.check_writable(workdir)
  check_data_location(config, workdir)


def check_data_location(
  config: ml_collections.ConfigDict, workdir: str
) -> None:
  """Raises unless the data this config reads is the copy its workdir (on a
  resume) and its stored teacher were trained on (their data.json)."""
  mine = wd.data_location(config)
  if mine is None:
    return
  earlier = wd.recorded_data(workdir) if os.path.isdir(workdir) else None
  if earlier and earlier.get("location") != mine["location"]:
    raise ConfigError(
      f"{workdir} was trained on the data in {describe_data(earlier)}; "
      f"this command reads {describe_data(mine)}. Pass "
      f"--data_dir={earlier.get('location')} to resume it, or use a new "
      "--workdir."
    )
  distill = config.get("distill")
  teacher_dir = distill.get("teacher_workdir") if distill else ""
  if not teacher_dir or distill.get("mode") in ("none", "lockstep"):
    return
  if not os.path.isdir(teacher_dir):
    return  # The plan names a missing teacher.
  theirs = wd.recorded_data(teacher_dir)
  if theirs and theirs.get("location") != mine["location"]:
    raise ConfigError(
      f"The teacher {teacher_dir} was trained on the data in "
      f"{describe_data(theirs)}; this student would read "
      f"{describe_data(mine)}. Pass "
      f"--data_dir={theirs.get('location')} (the teacher's copy)."
    )
