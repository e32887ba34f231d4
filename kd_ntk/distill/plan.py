"""A distillation config checked and turned into a plan, before any expensive
work.

`make_plan(config, workdir)` reads only small files (the teacher's config.json
and its checkpoint list): a wrong mode, a missing teacher, a teacher trained on
other data or missing checkpoints fail here with a message naming the fix,
before
data is loaded, a model initialised or anything compiled or written.
"""

import dataclasses
import json
import os
from typing import Any

import ml_collections

from kd_ntk.configs import fields, validation
from kd_ntk.distill import sources
from kd_ntk.train import checkpoint, from_config
from kd_ntk.train import workdir as wd

MODES = fields.DISTILL_MODES
LR_SCALES = ("none", "inverse_tau", "inverse_tau_squared")
LOCKSTEP_GRANULARITIES = ("epoch", "step")
LOCKSTEP_TEACHER_DIR = "teacher"


@dataclasses.dataclass(frozen=True)
class Plan:
  """What a student run will do.

  Attributes:
    mode: one of MODES.
    teacher_workdir: the teacher run directory ("" when there is no teacher).
    teacher_config: the teacher's config (None without a teacher).
    teacher_epochs: T, the teacher's final checkpoint (0 without a teacher).
    schedule: student (epoch, step, steps_per_epoch) -> TeacherPick | None.
    temperature: student epoch -> τ.
  """

  mode: str
  teacher_workdir: str
  teacher_config: ml_collections.ConfigDict | None
  teacher_epochs: int
  schedule: Any
  temperature: Any

  @property
  def has_teacher(self) -> bool:
    return bool(self.teacher_workdir)


def _resolve(epoch: int, teacher_epochs: int) -> int:
  """Python-style negative checkpoints: −1 is the final checkpoint T."""
  return teacher_epochs + 1 + epoch if epoch < 0 else epoch


def check_fields(config: ml_collections.ConfigDict) -> None:
  """Checks the distill block's values alone (no files)."""
  d = config.distill
  if d.mode not in MODES:
    raise ValueError(f"distill.mode must be one of {MODES}; got {d.mode!r}.")
  if config.epochs < 1:
    raise ValueError(f"epochs must be >= 1; got {config.epochs}.")
  if not d.temperature > 0 or not d.temperature_start > 0:
    raise ValueError(
      f"Temperatures must be > 0; got distill.temperature={d.temperature}, "
      f"distill.temperature_start={d.temperature_start}."
    )
  if not 0.0 <= d.alpha <= 1.0:
    raise ValueError(f"distill.alpha must lie in [0, 1]; got {d.alpha}.")
  if d.lr_scale not in LR_SCALES:
    raise ValueError(
      f"distill.lr_scale must be one of {LR_SCALES}; got {d.lr_scale!r}."
    )
  if d.temperature_schedule not in sources.TEMPERATURE_SCHEDULES:
    raise ValueError(
      f"distill.temperature_schedule must be one of "
      f"{sources.TEMPERATURE_SCHEDULES}; got {d.temperature_schedule!r}."
    )
  allowed = (
    LOCKSTEP_GRANULARITIES if d.mode == "lockstep" else sources.GRANULARITIES
  )
  if d.granularity not in allowed:
    raise ValueError(
      f"distill.granularity must be one of {allowed} for mode "
      f"{d.mode!r}; got {d.granularity!r}."
    )
  if d.granularity != "epoch" and d.mode not in ("online", "lockstep"):
    raise ValueError(
      f"distill.granularity={d.granularity!r} applies to modes online and "
      f"lockstep only; mode is {d.mode!r}."
    )
  every = config.get("eval_every", 1)
  if isinstance(every, bool) or not isinstance(every, int) or every < 1:
    raise ValueError(
      f"eval_every must be an integer >= 1 (1: evaluate every epoch); got "
      f"{every!r}."
    )
  if every != 1 and d.mode == "lockstep":
    raise ValueError(
      f"eval_every={every} applies to stored-teacher students; lock-step runs "
      "evaluate every epoch: remove eval_every."
    )
  if d.mode == "lockstep" and "teacher" not in d:
    raise ValueError(
      "mode=lockstep needs the distill.teacher block: use the 'lockstep' "
      "variant of kd_ntk/configs/distill.py."
    )


def eval_every(config: ml_collections.ConfigDict) -> int:
  """k of the evaluation cadence: the test and train-subset metrics of epoch t
  are computed when t = 0, t = E (the last epoch) or t is a multiple of k.

  The optional top-level field `eval_every` (absent: 1, every epoch, the
  configs written before it). Training never depends on it: the final
  epoch's row, the claims' numbers, is the same for every k; the other rows
  carry test_accuracy = None (curves are drawn at the evaluated epochs).
  """
  return int(config.get("eval_every", 1))


def evaluated(epoch: int, epochs: int, every: int) -> bool:
  """Whether epoch `epoch` of `epochs` is evaluated at cadence `every`."""
  return epoch == 0 or epoch == epochs or epoch % every == 0


def check_same_data(
  student: ml_collections.ConfigDict,
  teacher: ml_collections.ConfigDict,
  teacher_name: str,
) -> None:
  """Raises unless the teacher saw exactly the student's training examples."""
  diffs = validation.data_mismatch(student, teacher)
  if diffs:
    raise ValueError(
      f"The teacher {teacher_name} was trained on other data than the "
      f"student's config selects ({'; '.join(diffs)}). Set the student's "
      "data fields to the teacher's."
    )


def _stored_teacher(config: ml_collections.ConfigDict):
  d = config.distill
  tdir = d.teacher_workdir
  if not tdir:
    if d.mode == "none":
      return "", None, 0
    raise ValueError(
      f"mode={d.mode} needs distill.teacher_workdir (a teacher run)."
    )
  if not os.path.isdir(tdir):
    hint = (
      " (mode=none: set distill.teacher_workdir='' to train on labels without "
      "teacher metrics)"
      if d.mode == "none"
      else ""
    )
    raise FileNotFoundError(
      f"Teacher run {tdir} does not exist. Train it first: python "
      f"experiments/train_teacher.py --config=kd_ntk/configs/teacher.py --workdir={tdir}"
      + hint
    )
  tconfig = wd.load_config(tdir)
  check_same_data(config, tconfig, tdir)
  teacher_epochs = int(tconfig.epochs)
  saved = checkpoint.saved_epochs(tdir)
  if teacher_epochs not in saved:
    raise FileNotFoundError(
      f"Teacher run {tdir} has not finished: its final checkpoint "
      f"{teacher_epochs} is missing (saved: {saved or 'none'}). "
      "Rerun its training command to resume it."
    )
  return tdir, tconfig, teacher_epochs


def _lockstep_teacher(config: ml_collections.ConfigDict, workdir: str):
  tconfig = config.distill.teacher
  check_same_data(config, tconfig, "of distill.teacher")
  if tconfig.epochs != config.epochs:
    raise ValueError(
      f"Lock-step trains teacher and student for the same epochs; got "
      f"distill.teacher.epochs={tconfig.epochs} vs epochs={config.epochs}."
    )
  if (
    config.distill.granularity == "step"
    and tconfig.batch_size != config.batch_size
  ):
    raise ValueError(
      "Lock-step with granularity=step feeds both networks the same batch: "
      f"distill.teacher.batch_size={tconfig.batch_size} must equal "
      f"batch_size={config.batch_size}."
    )
  tdir = os.path.join(workdir, LOCKSTEP_TEACHER_DIR)
  path = os.path.join(tdir, wd.CONFIG_FILE)
  if os.path.exists(path):
    with open(path) as fh:
      written = json.load(fh)
    # The run adds the data's class count and input shape (checked when
    # claimed).
    written = {
      k: v for k, v in written.items() if k not in from_config.SHAPE_FIELDS
    }
    wanted = {
      k: v
      for k, v in wd.config_to_dict(tconfig).items()
      if k not in from_config.SHAPE_FIELDS
    }
    if written != wanted:
      raise ValueError(
        f"{tdir} holds a teacher with a different config than "
        "distill.teacher; use a new workdir."
      )
  return tdir, tconfig, int(tconfig.epochs)


def build_schedule(
  d: ml_collections.ConfigDict, student_epochs: int, teacher_epochs: int
):
  """The teacher schedule of a distill block (see kd_ntk.distill.sources)."""
  if d.mode == "none":
    return sources.no_teacher()
  if d.mode == "offline":
    return sources.fixed(teacher_epochs)
  if d.mode == "early":
    early = _resolve(int(d.early_epoch), teacher_epochs)
    if not 0 <= early <= teacher_epochs:
      raise ValueError(
        f"distill.early_epoch={d.early_epoch} is outside the teacher's "
        f"checkpoints 0..{teacher_epochs}."
      )
    return sources.fixed(early)
  if d.mode in ("online", "lockstep"):
    granularity = "epoch" if d.mode == "lockstep" else d.granularity
    return sources.online(
      student_epochs, teacher_epochs, int(d.online_offset), granularity
    )
  anchor_epochs = [_resolve(int(e), teacher_epochs) for e in d.anchor_epochs]
  bad = [e for e in anchor_epochs if not 0 <= e <= teacher_epochs]
  if bad:
    raise ValueError(
      f"distill.anchor_epochs {tuple(d.anchor_epochs)} name checkpoints "
      f"outside the teacher's 0..{teacher_epochs}."
    )
  return sources.anchors(
    anchor_epochs, tuple(d.anchor_switch_epochs), student_epochs
  )


def make_plan(config: ml_collections.ConfigDict, workdir: str) -> Plan:
  """Checks `config` against the files it names; returns the run's plan."""
  check_fields(config)
  d = config.distill
  if d.mode == "lockstep":
    if d.online_offset not in (0, -1):
      raise ValueError(
        "Lock-step supports distill.online_offset 0 (teacher epoch t first) "
        f"or −1 (student epoch t first); got {d.online_offset}."
      )
    tdir, tconfig, teacher_epochs = _lockstep_teacher(config, workdir)
  else:
    tdir, tconfig, teacher_epochs = _stored_teacher(config)
  schedule = build_schedule(d, config.epochs, teacher_epochs)
  temperature = sources.temperature_schedule(
    d.temperature_schedule, d.temperature_start, d.temperature, config.epochs
  )
  return Plan(d.mode, tdir, tconfig, teacher_epochs, schedule, temperature)


def check_checkpoints(plan: Plan, epochs: int, steps_per_epoch: int) -> None:
  """Raises unless every checkpoint the schedule will ask for is saved."""
  if plan.mode in ("none", "lockstep") or not plan.has_teacher:
    return
  needed = sources.needed_checkpoints(plan.schedule, epochs, steps_per_epoch)
  saved = set(checkpoint.saved_epochs(plan.teacher_workdir))
  missing = sorted(needed - saved)
  if missing:
    raise FileNotFoundError(
      f"Teacher run {plan.teacher_workdir} lacks checkpoint(s) "
      f"{missing} that mode={plan.mode} needs (saved: {sorted(saved)})."
    )
