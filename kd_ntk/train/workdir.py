"""Workdir files shared by every run: config.json, data.json, metrics.jsonl,
progress output.

A workdir belongs to one config: rerunning the same config resumes it, a
different config is refused (nothing already written is overwritten silently).
Path fields (`*workdir`, `data_dir`) are compared after normalisation, so a
trailing '/' or a symlink spelled as its real path is the same run. A workdir
held by another live process (`kd_ntk.train.lock`) is refused before anything
is written. Records are written atomically (`write_json_atomic`): a full disk
leaves the previous file or none, never an empty one.
"""

import json
import os
import sys
import time
from collections.abc import Iterable
from typing import Any

import ml_collections

from kd_ntk import distributed
from kd_ntk.train import lock

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
DATA_FILE = "data.json"
PATH_FIELDS = ("data_dir",)  # Besides every field whose name ends in "workdir".


def config_to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """A JSON-safe dict of the config (tuples become lists)."""
  return json.loads(config.to_json_best_effort())


def claim(
  workdir: str, config: ml_collections.ConfigDict, write: bool = True
) -> bool:
  """Creates `workdir` and writes config.json, or checks it matches an earlier
  run.

  With write=False only the checks are made (the other processes of a
  multi-process run, whose process 0 writes).

  Returns:
    True when the workdir already held this run (so it will be resumed).

  Raises:
    ValueError if the workdir holds a run of a different config, naming the
    differing fields.
  """
  check_writable(workdir)  # Also refuses a workdir another process holds.
  path = os.path.join(workdir, CONFIG_FILE)
  wanted = config_to_dict(config)
  if _left_empty(workdir):
    print(
      f"WARNING: {path} is empty (a write that failed, e.g. on a full disk, "
      "before any training); writing it again.",
      file=sys.stderr,
      flush=True,
    )
    if write:
      os.remove(path)
  if os.path.exists(path):
    existing = _read_json(path)
    diffs = config_differences(existing, wanted)
    if diffs:
      raise ValueError(
        f"{workdir} already holds a run with a different config (fields differ: "
        f"{diffs}). Use a new --workdir (students distilled from the run in {workdir} "
        "are bound to it: retraining it in place would strand them)."
      )
    if write:
      _record_data(workdir, config)
    return True
  if not write:
    return False
  os.makedirs(workdir, exist_ok=True)
  write_json_atomic(path, wanted, indent=2)
  _record_data(workdir, config)
  return False


def _left_empty(workdir: str) -> bool:
  """A 0-byte config.json and nothing trained: an earlier claim that failed."""
  path = os.path.join(workdir, CONFIG_FILE)
  checkpoints = os.path.join(workdir, "checkpoints")
  return (
    os.path.isfile(path)
    and os.path.getsize(path) == 0
    and not os.path.exists(os.path.join(workdir, METRICS_FILE))
    and not (os.path.isdir(checkpoints) and os.listdir(checkpoints))
  )


def is_path_field(name: str) -> bool:
  return name.endswith("workdir") or name in PATH_FIELDS


def normalise_path(path: str) -> str:
  """The real absolute path (symlinks resolved, no trailing '/'; '' kept)."""
  if not isinstance(path, str) or not path:
    return path
  return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


def _normalised(value: Any, name: str = "") -> Any:
  if isinstance(value, dict):
    return {k: _normalised(v, k) for k, v in value.items()}
  if is_path_field(name) and isinstance(value, str):
    return normalise_path(value)
  return value


def config_differences(existing: dict, wanted: dict) -> list[str]:
  """Top-level fields in which two config dicts differ; path fields are equal
  when equal as written or as real paths."""
  return sorted(
    k
    for k in set(existing) | set(wanted)
    if existing.get(k) != wanted.get(k)
    and _normalised(existing.get(k), k) != _normalised(wanted.get(k), k)
  )


def write_json_atomic(path: str, value: Any, indent: int | None = 1) -> None:
  """Writes `value` as JSON to `path` through a temporary file, fsync and
  rename.

  On any error (a full disk: ENOSPC) the temporary file is removed and `path`
  keeps its previous content (or stays absent), then the error propagates.
  """
  tmp = f"{path}.tmp.{os.getpid()}"
  try:
    with open(tmp, "w") as fh:
      json.dump(value, fh, indent=indent, sort_keys=True)
      fh.flush()
      os.fsync(fh.fileno())
    os.replace(tmp, path)
  except BaseException:
    try:
      os.remove(tmp)
    except OSError:
      pass
    raise


def data_location(config) -> dict[str, str] | None:
  """{"dataset", "source", "location"}: where a run config reads its data (None
  for configs without a dataset). Reads no data."""
  if not config.get("dataset"):
    return None
  from kd_ntk.data import sources  # Lazy: keeps this module light.

  return sources.data_location(
    config.dataset,
    config.get("data_dir") or None,
    config.get("data_source") or None,
  )


def recorded_data(workdir: str) -> dict[str, str] | None:
  """The data location a run recorded (None for runs that recorded none)."""
  path = os.path.join(workdir, DATA_FILE)
  if not os.path.isfile(path):
    return None
  try:
    with open(path) as fh:
      value = json.load(fh)
  except (OSError, ValueError):
    return None
  return value if isinstance(value, dict) else None


def _record_data(workdir: str, config) -> None:
  """Writes data.json once (process 0); runs older than it get one on resume."""
  where = data_location(config)
  if where is not None and recorded_data(workdir) is None:
    write_json_atomic(os.path.join(workdir, DATA_FILE), where)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir was run with."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(
      f"No {CONFIG_FILE} in {workdir}: not a kd_ntk run directory."
    )
  return ml_collections.ConfigDict(_read_json(path))


def _read_json(path: str) -> dict[str, Any]:
  """A run's config.json, or a one-line error naming it."""
  try:
    with open(path) as fh:
      value = json.load(fh)
  except ValueError as err:
    raise ValueError(
      f"{path} is damaged ({err}); it cannot say which config the run "
      "used: use a new --workdir."
    ) from None
  if not isinstance(value, dict):
    raise ValueError(
      f"{path} is not a kd_ntk config (not a JSON object); use a new --workdir."
    )
  return value


def check_writable(workdir: str) -> None:
  """Raises (one line) unless `workdir` is, or can be created as, a writable
  folder.

  Called before any data is loaded, so a run that cannot write its results
  fails before computing them. Also refuses an empty path, a symlink to a
  missing folder, and a workdir another live process holds (`lock`).
  """
  if not isinstance(workdir, str) or not workdir.strip():
    raise ValueError(
      f"--workdir={workdir!r} is empty; pass the run's folder, e.g. "
      "--workdir=runs/teacher."
    )
  path = os.path.abspath(workdir)
  if os.path.islink(path) and not os.path.exists(path):
    raise ValueError(
      f"--workdir={workdir} is a symlink to {os.readlink(path)}, which does "
      "not exist; create that folder or pass another --workdir."
    )
  if os.path.exists(path) and not os.path.isdir(path):
    raise ValueError(
      f"--workdir={workdir} is a file, not a folder; pass a folder path."
    )
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise ValueError(
      f"--workdir={workdir} cannot be created: {existing} is a file."
    )
  if not os.access(existing, os.W_OK | os.X_OK):
    raise ValueError(
      f"--workdir={workdir} is not writable ({existing} is read-only); "
      "pass a writable folder or fix its permissions."
    )
  if os.path.isdir(path) and distributed.is_writer():  # Others share it.
    lock.check_free(path)


def _parse_rows(path: str):
  """(rows, None), or (rows before the first damaged line, (line, error))."""
  rows = []
  with open(path) as fh:
    for number, line in enumerate(fh, 1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
          raise ValueError("not a row with an integer 'epoch'")
      except ValueError as err:
        return rows, (number, str(err).split("\n")[0])
      rows.append(row)
  return rows, None


def read_metrics(workdir: str, repair: bool = False) -> list[dict[str, Any]]:
  """All rows of metrics.jsonl ([] when absent), one per epoch in epoch order
  (of duplicate rows, left by two runs at once before the lock, the last).

  Raises:
    ValueError naming the file and line when a line is not a JSON row (e.g. a
    half-written last line); with repair=True the rows before it are returned
    instead (the caller rewrites the file and recomputes what is missing).
  """
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  rows, damage = _parse_rows(path)
  if damage and not repair:
    raise ValueError(
      f"{path} line {damage[0]} is damaged ({damage[1]}); rerun the "
      "run's training command to repair it from the checkpoints."
    )
  return one_row_per_epoch(rows)


def one_row_per_epoch(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
  """The last row of each epoch, in epoch order."""
  by_epoch = {r["epoch"]: r for r in rows}
  return [by_epoch[e] for e in sorted(by_epoch)]


def truncate_metrics(workdir: str, last_epoch: int) -> None:
  """Drops metric rows after `last_epoch` (written before a crash, never
  checkpointed) and any damaged line (with a warning)."""
  path = os.path.join(workdir, METRICS_FILE)
  rows, damage = _parse_rows(path) if os.path.exists(path) else ([], None)
  if damage:
    print(
      f"WARNING: {path} line {damage[0]} is damaged ({damage[1]}); dropping it and "
      "every line after it.",
      file=sys.stderr,
      flush=True,
    )
  kept = one_row_per_epoch([r for r in rows if r["epoch"] <= last_epoch])
  if kept == rows and not damage and os.path.exists(path):
    return  # Nothing to drop: leave the file untouched.
  duplicates = len([r for r in rows if r["epoch"] <= last_epoch]) - len(kept)
  if duplicates:
    print(
      f"WARNING: {path} holds {duplicates} duplicate row(s) of one epoch "
      "(two runs at once in this workdir?); keeping the last row of each epoch.",
      file=sys.stderr,
      flush=True,
    )
  write_rows(path, kept, mode="w")


def append_metrics(workdir: str, row: dict[str, Any]) -> None:
  write_rows(os.path.join(workdir, METRICS_FILE), [row], mode="a")


def write_rows(
  path: str, rows: Iterable[dict[str, Any]], mode: str = "w"
) -> None:
  with open(path, mode) as fh:
    for row in rows:
      fh.write(json.dumps(row, sort_keys=True) + "\n")


class Progress:
  """Prints one line per epoch with elapsed time and an ETA to stderr."""

  def __init__(
    self, label: str, first_epoch: int, last_epoch: int, stream=sys.stderr
  ):
    self.label, self.first, self.last, self.stream = (
      label,
      first_epoch,
      last_epoch,
      stream,
    )
    self.start = time.time()

  def epoch_done(self, epoch: int, fields: dict[str, Any]) -> None:
    elapsed = time.time() - self.start
    done = epoch - self.first + 1
    eta = elapsed / done * (self.last - epoch)
    text = " ".join(
      f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
      for k, v in fields.items()
    )
    print(
      f"[{self.label}] epoch {epoch}/{self.last} {text} "
      f"elapsed={elapsed:.0f}s eta={eta:.0f}s",
      file=self.stream,
      flush=True,
    )
