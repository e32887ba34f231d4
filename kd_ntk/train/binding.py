"""A student bound to its teacher: the student's workdir records the teacher's
fingerprint (its config and the content digest of every checkpoint's weights)
when the student starts, and a resume against a changed teacher is refused.

Without it, a teacher deleted and retrained at the same path would silently
teach a resuming student's later epochs: two teachers in one run. The binding
rests on what the student learns from, the weights (`integrity.content_digest`)
and the config, not on file bytes: a teacher rebuilt bit-identically by its own
rerun (after a corrupt step) is the same teacher. Bindings written before
content digests (only "steps", the file digests) are compared as before.

The teacher is verified first and fails closed: a step without checksum
records, a corrupt step, or a gap in its checkpoints (0, 1, ..., last) makes it
unusable, with the command that repairs it.
"""

import json
import os
from typing import Any

from kd_ntk import distributed
from kd_ntk.train import checkpoint, integrity
from kd_ntk.train import workdir as wd

BINDING_FILE = "teacher_fingerprint.json"


def fingerprint(teacher_workdir: str) -> dict[str, Any]:
  """The teacher's config and per-step digests, after verifying every step.

  Raises:
    CorruptCheckpointError naming the first corrupt step of the teacher.
  """
  saved = checkpoint.saved_epochs(teacher_workdir)
  missing = sorted(set(range(saved[-1] + 1)) - set(saved)) if saved else []
  if missing:
    raise integrity.CorruptCheckpointError(
      f"Teacher unusable: {os.path.abspath(teacher_workdir)} lacks checkpoint "
      f"step(s) {_span(missing)} of 0..{saved[-1]} (deleted?). Rerun the "
      "teacher's own command: it rebuilds them exactly."
    )
  steps, weights = {}, {}
  for step in saved:
    try:
      integrity.verify(teacher_workdir, step)
    except integrity.CorruptCheckpointError as err:
      raise integrity.CorruptCheckpointError(
        "Teacher unusable: "
        + str(err).replace("Rerun this run's own", "Rerun the teacher's own")
      ) from None
    entry = integrity.read_record(teacher_workdir, step)
    steps[str(step)] = integrity.digest(entry["files"])
    weights[str(step)] = entry.get("content") or _restored_digest(
      teacher_workdir, step
    )
  return {
    "teacher_workdir": os.path.abspath(teacher_workdir),
    "config": wd.config_to_dict(wd.load_config(teacher_workdir)),
    "steps": steps,
    "weights": weights,
  }


def _span(steps) -> str:
  if len(steps) > 1 and steps == list(range(steps[0], steps[-1] + 1)):
    return f"{steps[0]}-{steps[-1]}"
  return ", ".join(str(s) for s in steps)


def _restored_digest(teacher_workdir: str, step: int) -> str:
  """Content digest of a step recorded before records held one (restores it)."""
  from kd_ntk.train import runs  # Lazy: runs imports the models.

  return integrity.content_digest(runs.restore_variables(teacher_workdir, step))


def changes(stored: dict[str, Any], current: dict[str, Any]) -> str:
  """What differs between two fingerprints ("" if the teacher is unchanged)."""
  found = []
  old, new = stored.get("config", {}), current["config"]
  fields = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
  if fields:
    found.append(f"its config differs in {fields}")
  key = "weights" if "weights" in stored else "steps"  # Older bindings: files.
  before, now = stored.get(key, {}), current[key]
  rewritten = [int(s) for s, d in before.items() if s in now and now[s] != d]
  gone = [int(s) for s in before if s not in now]
  if rewritten:
    found.append(
      f"checkpoints {sorted(rewritten)} were rewritten"
      + (" with other weights" if key == "weights" else "")
    )
  if gone:
    found.append(f"checkpoints {sorted(gone)} are gone")
  return "; ".join(found)


def check(student_workdir: str, teacher_workdir: str) -> dict[str, Any]:
  """Verifies the teacher and, when the student already recorded one, that it is
  the same teacher. Reads only; returns the fingerprint for `record`.

  Raises:
    ValueError saying what changed and how to proceed.
  """
  current = fingerprint(teacher_workdir)
  path = os.path.join(student_workdir, BINDING_FILE)
  if os.path.exists(path):
    try:
      with open(path) as fh:
        stored = json.load(fh)
    except ValueError:
      stored = None
    if not isinstance(stored, dict):
      raise ValueError(
        f"{path} is damaged: it cannot say which teacher the student in "
        f"{student_workdir} learned from; distill into a new --workdir."
      )
    what = changes(stored, current)
    if what:
      raise ValueError(
        f"The student in {student_workdir} was distilled from the teacher "
        f"{teacher_workdir} as it was when the student started, and that teacher has "
        f"changed since ({what}); resuming would mix two teachers in one run. Restore "
        "the original teacher run, or distill from this teacher into a new --workdir."
      )
  return current


def record(student_workdir: str, fingerprint_: dict[str, Any]) -> None:
  """Writes the teacher's fingerprint into the student's workdir (once)."""
  path = os.path.join(student_workdir, BINDING_FILE)
  if os.path.exists(path) or not distributed.is_writer():
    return
  wd.write_json_atomic(path, fingerprint_)
