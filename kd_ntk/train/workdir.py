"""Workdir files shared by every run: config.json, metrics.jsonl, progress output.

A workdir belongs to one config: rerunning the same config resumes it, a
different config is refused (nothing already written is overwritten silently).
"""

import json
import os
import sys
import time
from typing import Any, Dict, Iterable, List

import ml_collections

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"


def config_to_dict(config: ml_collections.ConfigDict) -> Dict[str, Any]:
  """A JSON-safe dict of the config (tuples become lists)."""
  return json.loads(config.to_json_best_effort())


def claim(
  workdir: str, config: ml_collections.ConfigDict, write: bool = True
) -> bool:
  """Creates `workdir` and writes config.json, or checks it matches an earlier run.

  With write=False only the checks are made (the other processes of a
  multi-process run, whose process 0 writes).

  Returns:
    True when the workdir already held this run (so it will be resumed).

  Raises:
    ValueError if the workdir holds a run of a different config, naming the
    differing fields.
  """
  check_writable(workdir)
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG_FILE)
  wanted = config_to_dict(config)
  if os.path.exists(path):
    existing = _read_json(path)
    if existing != wanted:
      diffs = sorted(
        k
        for k in set(existing) | set(wanted)
        if existing.get(k) != wanted.get(k)
      )
      raise ValueError(
        f"{workdir} already holds a run with a different config (fields differ: "
        f"{diffs}). Use a new --workdir (students distilled from the run in {workdir} "
        "are bound to it: retraining it in place would strand them)."
      )
    return True
  if not write:
    return False
  with open(path, "w") as fh:
    json.dump(wanted, fh, indent=2, sort_keys=True)
  return False


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir was run with."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(
      f"No {CONFIG_FILE} in {workdir}: not a kd_ntk run directory."
    )
  return ml_collections.ConfigDict(_read_json(path))


def _read_json(path: str) -> Dict[str, Any]:
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
  """Raises (one line) unless `workdir` is, or can be created as, a writable folder.

  Called before any data is loaded, so a run that cannot write its results
  fails before computing them.
  """
  path = os.path.abspath(workdir)
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


def _parse_rows(path: str):
  """(rows, None) or (rows before the first damaged line, (line number, error))."""
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


def read_metrics(workdir: str, repair: bool = False) -> List[Dict[str, Any]]:
  """All rows of metrics.jsonl ([] when absent).

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
  return rows


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
  kept = [r for r in rows if r["epoch"] <= last_epoch]
  if len(kept) == len(rows) and not damage and os.path.exists(path):
    return  # Nothing to drop: leave the file untouched.
  write_rows(path, kept, mode="w")


def append_metrics(workdir: str, row: Dict[str, Any]) -> None:
  write_rows(os.path.join(workdir, METRICS_FILE), [row], mode="a")


def write_rows(
  path: str, rows: Iterable[Dict[str, Any]], mode: str = "w"
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

  def epoch_done(self, epoch: int, fields: Dict[str, Any]) -> None:
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
