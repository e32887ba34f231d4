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


def claim(workdir: str, config: ml_collections.ConfigDict) -> bool:
  """Creates `workdir` and writes config.json, or checks it matches an earlier run.

  Returns:
    True when the workdir already held this run (so it will be resumed).

  Raises:
    ValueError if the workdir holds a run of a different config, naming the
    differing fields.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG_FILE)
  wanted = config_to_dict(config)
  if os.path.exists(path):
    with open(path) as fh:
      existing = json.load(fh)
    if existing != wanted:
      diffs = sorted(k for k in set(existing) | set(wanted) if existing.get(k) != wanted.get(k))
      raise ValueError(
          f"{workdir} already holds a run with a different config (fields differ: "
          f"{diffs}). Use a new --workdir, or delete {workdir} to start over.")
    return True
  with open(path, "w") as fh:
    json.dump(wanted, fh, indent=2, sort_keys=True)
  return False


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir was run with."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"No {CONFIG_FILE} in {workdir}: not a kd_ntk run directory.")
  with open(path) as fh:
    return ml_collections.ConfigDict(json.load(fh))


def read_metrics(workdir: str) -> List[Dict[str, Any]]:
  """All rows of metrics.jsonl ([] when absent)."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as fh:
    return [json.loads(line) for line in fh if line.strip()]


def truncate_metrics(workdir: str, last_epoch: int) -> None:
  """Drops metric rows after `last_epoch` (written before a crash, never checkpointed)."""
  rows = read_metrics(workdir)
  kept = [r for r in rows if r["epoch"] <= last_epoch]
  if len(kept) == len(rows) and os.path.exists(os.path.join(workdir, METRICS_FILE)):
    return  # Nothing to drop: leave the file untouched.
  rows = kept
  write_rows(os.path.join(workdir, METRICS_FILE), rows, mode="w")


def append_metrics(workdir: str, row: Dict[str, Any]) -> None:
  write_rows(os.path.join(workdir, METRICS_FILE), [row], mode="a")


def write_rows(path: str, rows: Iterable[Dict[str, Any]], mode: str = "w") -> None:
  with open(path, mode) as fh:
    for row in rows:
      fh.write(json.dumps(row, sort_keys=True) + "\n")


class Progress:
  """Prints one line per epoch with elapsed time and an ETA to stderr."""

  def __init__(self, label: str, first_epoch: int, last_epoch: int, stream=sys.stderr):
    self.label, self.first, self.last, self.stream = label, first_epoch, last_epoch, stream
    self.start = time.time()

  def epoch_done(self, epoch: int, fields: Dict[str, Any]) -> None:
    elapsed = time.time() - self.start
    done = epoch - self.first + 1
    eta = elapsed / done * (self.last - epoch)
    text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in fields.items())
    print(f"[{self.label}] epoch {epoch}/{self.last} {text} "
          f"elapsed={elapsed:.0f}s eta={eta:.0f}s", file=self.stream, flush=True)
