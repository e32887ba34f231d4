"""Checksums of saved checkpoint steps, and the fingerprint of a run's config.

Once orbax has finished writing checkpoint step s of a run (the save is
finalised), `record(workdir, s)` writes <workdir>/integrity/<s>.json holding the
SHA-256 and size of every file under <workdir>/checkpoints/<s>/ and the
fingerprint of the run's config.json. `problem(workdir, s)` recomputes them and
names the first file that differs; `verify` turns a problem into
`CorruptCheckpointError` (one line: run, step, file).

Integrity fails closed: a step without a readable record (the integrity/
folder deleted, a record damaged or edited, a file added or removed) is never
trusted. Readers refuse it; the run's own rerun deletes it and every later step
and recomputes them (training is deterministic, so the rebuild is exact).

Each record also holds `content`, the SHA-256 of the step's weights (the
inference variables: names, dtypes, shapes and bytes of every array, see
`content_digest`), computed from the saved state itself. A student is bound to
its teacher by these (`kd_ntk.train.binding`), so an identical rebuild of a
teacher is the same teacher and a changed one is not.
"""

import hashlib
import json
import os
import shutil
import sys

INTEGRITY_DIR = "integrity"
CHECKPOINTS_DIR = "checkpoints"
CONFIG_FILE = "config.json"
_CHUNK = 1 << 20


class CorruptCheckpointError(ValueError):
  """A saved checkpoint step no longer matches the checksums recorded for it."""


def warn(message: str) -> None:
  print(f"WARNING: {message}", file=sys.stderr, flush=True)


def step_dir(workdir: str, step: int) -> str:
  return os.path.join(os.path.abspath(workdir), CHECKPOINTS_DIR, str(int(step)))


def _record_path(workdir: str, step: int) -> str:
  return os.path.join(
    os.path.abspath(workdir), INTEGRITY_DIR, f"{int(step)}.json"
  )


def is_checksummed(workdir: str) -> bool:
  """Whether the run's integrity/ folder exists (steps without it: refused)."""
  return os.path.isdir(os.path.join(workdir, INTEGRITY_DIR))


def content_digest(tree) -> str:
  """SHA-256 over the arrays of a pytree: each leaf's path, dtype, shape, bytes.

  Replicated multi-process arrays are read from their first local shard (a
  full copy). Equal weights give equal digests however they were saved.
  """
  import jax  # Lazy: integrity is imported by light modules.
  import numpy as np

  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
      leaf = leaf.addressable_data(0)
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(
      f"{jax.tree_util.keystr(path)}|{array.dtype.str}|{array.shape}|".encode()
    )
    digest.update(array.tobytes())
  return digest.hexdigest()


def start(workdir: str) -> None:
  """Marks a run as checksummed (called before its first save)."""
  os.makedirs(os.path.join(workdir, INTEGRITY_DIR), exist_ok=True)


def saved_steps_on_disk(workdir: str) -> list[int]:
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


def config_fingerprint(workdir: str) -> str | None:
  """SHA-256 of the run's config.json, canonicalised (None without one)."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as fh:
    canonical = json.dumps(json.load(fh), sort_keys=True)
  return hashlib.sha256(canonical.encode()).hexdigest()


def step_files(workdir: str, step: int) -> dict[str, list]:
  """{path in the step folder: [size, sha256]} of every file of a step."""
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


def digest(files: dict[str, list]) -> str:
  """One SHA-256 over a step's file checksums (its identity for students)."""
  text = "\n".join(
    f"{k}:{size}:{sha}" for k, (size, sha) in sorted(files.items())
  )
  return hashlib.sha256(text.encode()).hexdigest()


def record(workdir: str, step: int, content: str | None = None) -> None:
  """Writes integrity/<step>.json for a finished save (atomically: tmp +
  rename).

  Args:
    content: `content_digest` of the step's inference variables (None: unknown).
  """
  from kd_ntk.train import workdir as wd  # Lazy: workdir imports lock only.

  start(workdir)
  entry = {
    "step": int(step),
    "config_fingerprint": config_fingerprint(workdir),
    "files": step_files(workdir, step),
    "content": content,
  }
  wd.write_json_atomic(_record_path(workdir, step), entry)


def read_record(workdir: str, step: int) -> dict | None:
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


def _well_formed(entry) -> bool:
  files = entry.get("files") if isinstance(entry, dict) else None
  return (
    isinstance(files, dict)
    and bool(files)
    and all(
      isinstance(v, list)
      and len(v) == 2
      and isinstance(v[0], int)
      and isinstance(v[1], str)
      for v in files.values()
    )
  )


def problem(workdir: str, step: int) -> str | None:
  """None when step `step` matches its record, else what is wrong (a few words).

  Fails closed: no integrity/ folder, no record, a damaged record or a file
  the record does not list are problems, like a changed file.
  """
  if not os.path.isdir(step_dir(workdir, step)):
    return "its folder is missing"
  if not is_checksummed(workdir):
    return f"its checksum records ({INTEGRITY_DIR}/) are missing"
  entry = read_record(workdir, step)
  if entry is None:
    return (
      "it has no checksum record (its save was interrupted, or the record "
      "was deleted)"
    )
  if entry.get("unreadable") or not _well_formed(entry):
    return f"its checksum record {_record_path(workdir, step)} is damaged"
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
  extra = sorted(set(_relative_files(root)) - set(entry["files"]))
  if extra:
    return f"file {extra[0]} was not there when it was saved"
  return None


def _relative_files(root: str) -> list[str]:
  return [
    os.path.relpath(os.path.join(folder, name), root)
    for folder, _, names in os.walk(root)
    for name in names
  ]


def verify(workdir: str, step: int) -> None:
  """Raises CorruptCheckpointError unless `step` is intact (fails closed)."""
  issue = problem(workdir, step)
  if issue:
    raise CorruptCheckpointError(
      f"{os.path.abspath(workdir)}: checkpoint step {step} is corrupt ({issue}). "
      "Rerun this run's own command to rebuild it from its last intact step "
      "(deterministic: students bound to it accept an identical rebuild), or "
      "train it again in a new --workdir."
    )


def delete_step(workdir: str, step: int) -> None:
  """Deletes a step folder and its record (before any manager has listed it)."""
  shutil.rmtree(step_dir(workdir, step), ignore_errors=True)
  forget(workdir, step)
