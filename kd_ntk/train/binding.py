"""A student bound to its teacher: the student's workdir records the teacher's
fingerprint (its config and the checksum digest of every checkpoint step) when
the student starts, and a resume against a changed teacher is refused.

Without it, a teacher deleted and retrained at the same path would silently
teach a resuming student's later epochs: two teachers in one run.
"""

import json
import os
from typing import Any, Dict

from kd_ntk import distributed
from kd_ntk.train import checkpoint, integrity
from kd_ntk.train import workdir as wd

BINDING_FILE = "teacher_fingerprint.json"


def fingerprint(teacher_workdir: str) -> Dict[str, Any]:
  """The teacher's config and per-step digests, after verifying every step.

  Raises:
    CorruptCheckpointError naming the first corrupt step of the teacher.
  """
  steps = {}
  for step in checkpoint.saved_epochs(teacher_workdir):
    try:
      integrity.verify(teacher_workdir, step)
    except integrity.CorruptCheckpointError as err:
      raise integrity.CorruptCheckpointError(
        f"Teacher unusable: {err}"
      ) from None
    entry = (
      integrity.read_record(teacher_workdir, step)
      if integrity.is_checksummed(teacher_workdir)
      else None
    )
    files = (
      entry["files"] if entry else integrity.step_files(teacher_workdir, step)
    )
    steps[str(step)] = integrity.digest(files)
  return {
    "teacher_workdir": os.path.abspath(teacher_workdir),
    "config": wd.config_to_dict(wd.load_config(teacher_workdir)),
    "steps": steps,
  }


def changes(stored: Dict[str, Any], current: Dict[str, Any]) -> str:
  """What differs between two fingerprints ("" when the teacher is unchanged)."""
  found = []
  old, new = stored.get("config", {}), current["config"]
  fields = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
  if fields:
    found.append(f"its config differs in {fields}")
  rewritten = [
    int(s)
    for s, d in stored.get("steps", {}).items()
    if s in current["steps"] and current["steps"][s] != d
  ]
  gone = [int(s) for s in stored.get("steps", {}) if s not in current["steps"]]
  if rewritten:
    found.append(f"checkpoints {sorted(rewritten)} were rewritten")
  if gone:
    found.append(f"checkpoints {sorted(gone)} are gone")
  return "; ".join(found)


def check(student_workdir: str, teacher_workdir: str) -> Dict[str, Any]:
  """Verifies the teacher and, when the student already recorded one, that it is
  the same teacher. Reads only; returns the fingerprint for `record`.

  Raises:
    ValueError saying what changed and how to proceed.
  """
  current = fingerprint(teacher_workdir)
  path = os.path.join(student_workdir, BINDING_FILE)
  if os.path.exists(path):
    with open(path) as fh:
      stored = json.load(fh)
    what = changes(stored, current)
    if what:
      raise ValueError(
        f"The student in {student_workdir} was distilled from the teacher "
        f"{teacher_workdir} as it was when the student started, and that teacher has "
        f"changed since ({what}); resuming would mix two teachers in one run. Restore "
        "the original teacher run, or distill from this teacher into a new --workdir."
      )
  return current


def record(student_workdir: str, fingerprint_: Dict[str, Any]) -> None:
  """Writes the teacher's fingerprint into the student's workdir (once; process 0)."""
  path = os.path.join(student_workdir, BINDING_FILE)
  if os.path.exists(path) or not distributed.is_writer():
    return
  with open(path + ".tmp", "w") as fh:
    json.dump(fingerprint_, fh, indent=1, sort_keys=True)
  os.replace(path + ".tmp", path)
