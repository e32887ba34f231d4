"""Checksums of saved checkpoint steps, and the fingerprint of a run's config.

Once orbax has finished writing checkpoint step s of a run (the save is
finalised), `record(workdir, s)` writes <workdir>/integrity/<s>.json holding the
SHA-256 and size of every file under <workdir>/checkpoints/<s>/ and the
fingerprint of the run's config.json. `problem(workdir, s)` recomputes them and
names the first file that differs; `verify` turns a problem into
`CorruptCheckpointError` (one line: run, step, file).

A run whose workdir has no integrity/ folder predates checksums ("legacy"): its
steps are accepted unverified, and the first resume records them.
"""

import hashlib
import json
import os
import shutil
import sys
from typing import Dict, List, Optional

INTEGRITY_DIR = "integrity"
CHECKPOINTS_DIR = "checkpoints"
CONFIG_FILE = "config.json"
_CHUNK = 1 << 20


class CorruptCheckpointError(ValueError):
  """A saved checkpoint step no longer matches the checksums recorded when it was saved."""


def warn(message: str) -> None:
  print(f"WARNING: {message}", file=sys.stderr, flush=True)


def step_dir(workdir: str, step: int) -> str:
  return os.path.join(os.path.abspath(workdir), CHECKPOINTS_DIR, str(int(step)))


def _record_path(workdir: str, step: int) -> str:
  return os.path.join(
    os.path.abspath(workdir), INTEGRITY_DIR, f"{int(step)}.json"
  )


def is_checksummed(workdir: str) -> bool:
  """Whether the run records checksums (False for runs written before them)."""
  return os.path.isdir(os.path.join(workdir, INTEGRITY_DIR))


def start(workdir: str) -> None:
  """Marks a run as checksummed (called before its first save)."""
  os.makedirs(os.path.join(workdir, INTEGRITY_DIR), exist_ok=True)


def saved_steps_on_disk(workdir: str) -> List[int]:
  """Every numeric step folder under checkpoints/, finished or not, sorted."""
  root = os.path.join(workdir, CHECKPOINTS_DIR)
  if not os.path.isdir(root):
    return []
  return sorted(
    int(n)
    for n in os.listdir(root)
    if n.isdigit() and os.path.isdir(os.path.join(root, n))
  )


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as fh:
    for chunk in iter(lambda: fh.read(_CHUNK), b""):
      digest.update(chunk)
  return digest.hexdigest()


def config_fingerprint(workdir: str) -> Optional[str]:
  """SHA-256 of the run's config.json, canonicalised (None without one)."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as fh:
    canonical = json.dumps(json.load(fh), sort_keys=True)
  return hashlib.sha256(canonical.encode()).hexdigest()


def step_files(workdir: str, step: int) -> Dict[str, List]:
  """{path relative to the step folder: [size, sha256]} of every file of a step."""
  root = step_dir(workdir, step)
  files = {}
  for folder, _, names in os.walk(root):
    for name in names:
      path = os.path.join(folder, name)
      files[os.path.relpath(path, root)] = [
        os.path.getsize(path),
        file_sha256(path),
      ]
  return files


def digest(files: Dict[str, List]) -> str:
  """One SHA-256 over a step's file checksums (its identity for students)."""
  text = "\n".join(
    f"{k}:{size}:{sha}" for k, (size, sha) in sorted(files.items())
  )
  return hashlib.sha256(text.encode()).hexdigest()


def record(workdir: str, step: int) -> None:
  """Writes integrity/<step>.json for a finished save (atomically: tmp + rename)."""
  start(workdir)
  entry = {
    "step": int(step),
    "config_fingerprint": config_fingerprint(workdir),
    "files": step_files(workdir, step),
  }
  path = _record_path(workdir, step)
  with open(path + ".tmp", "w") as fh:
    json.dump(entry, fh, indent=1, sort_keys=True)
    fh.flush()
    os.fsync(fh.fileno())
  os.replace(path + ".tmp", path)


def read_record(workdir: str, step: int) -> Optional[Dict]:
  path = _record_path(workdir, step)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as fh:
      return json.load(fh)
  except (OSError, ValueError):
    return {"unreadable": True}


def forget(workdir: str, step: int) -> None:
  """Removes a step's record (after the step itself was deleted)."""
  path = _record_path(workdir, step)
  if os.path.exists(path):
    os.remove(path)


def problem(workdir: str, step: int) -> Optional[str]:
  """None when step `step` matches its record, else what is wrong (a few words)."""
  if not os.path.isdir(step_dir(workdir, step)):
    return "its folder is missing"
  entry = read_record(workdir, step)
  if entry is None:
    return "it has no checksum record (its save was interrupted)"
  if entry.get("unreadable"):
    return f"its checksum record {_record_path(workdir, step)} is unreadable"
  if entry.get("config_fingerprint") != config_fingerprint(workdir):
    return f"it was written under another {CONFIG_FILE}"
  root = step_dir(workdir, step)
  for rel, (size, sha) in sorted(entry["files"].items()):
    path = os.path.join(root, rel)
    if not os.path.exists(path):
      return f"file {rel} is missing"
    if os.path.getsize(path) != size:
      return f"file {rel} has {os.path.getsize(path)} bytes, {size} when saved"
    if file_sha256(path) != sha:
      return f"file {rel} differs from its checksum"
  return None


def verify(workdir: str, step: int) -> None:
  """Raises CorruptCheckpointError unless step `step` is intact (legacy runs pass)."""
  if not is_checksummed(workdir):
    return
  issue = problem(workdir, step)
  if issue:
    raise CorruptCheckpointError(
      f"{os.path.abspath(workdir)}: checkpoint step {step} is corrupt ({issue}). "
      "Rerun this run's own command to resume from its last intact step, or train "
      "it again in a new --workdir."
    )


def delete_step(workdir: str, step: int) -> None:
  """Deletes a step folder and its record (before any manager has listed it)."""
  shutil.rmtree(step_dir(workdir, step), ignore_errors=True)
  forget(workdir, step)
