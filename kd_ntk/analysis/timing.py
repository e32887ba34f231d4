"""Measured seconds per epoch of a reproduction's runs, and the time of another
configuration estimated from them.

Every run's metrics.jsonl holds `seconds` (training) and, for students,
`eval_seconds` per epoch. `measured(root)` sums them per run; `estimate`
scales a measured per-epoch cost by the ratio of training images and of
forward FLOPs per example (a first-order model: cost ∝ images × FLOPs), so
the estimate of a configuration that was never run is explicit about what it
assumes.
"""

import glob
import json
import os
from typing import Dict, List

from kd_ntk.reports.tables import read_jsonl


def measured(root: str) -> List[Dict]:
  """One entry per run under `root`: path, model, epochs, seconds per epoch."""
  out = []
  for path in sorted(
    glob.glob(os.path.join(root, "**", "metrics.jsonl"), recursive=True)
  ):
    rows = [r for r in read_jsonl(path) if r.get("epoch", 0) > 0]
    config_path = os.path.join(os.path.dirname(path), "config.json")
    if not rows or not os.path.exists(config_path):
      continue
    with open(config_path) as fh:
      config = json.load(fh)
    total = sum(
      r.get("seconds", 0.0) + r.get("eval_seconds", 0.0) for r in rows
    )
    out.append(
      {
        "run": os.path.relpath(os.path.dirname(path), root),
        "model": config.get("model"),
        "model_kwargs": config.get("model_kwargs"),
        "mode": (config.get("distill") or {}).get("mode", "teacher"),
        "train_subset": config.get("train_subset"),
        "epochs": len(rows),
        "seconds_per_epoch": total / len(rows),
      }
    )
  return out


def estimate(
  per_epoch_seconds: float,
  epochs: int,
  runs: int,
  image_ratio: float = 1.0,
  flops_ratio: float = 1.0,
) -> float:
  """Seconds of `runs` runs of `epochs` epochs, each epoch costing the measured
  `per_epoch_seconds` × image_ratio × flops_ratio."""
  return per_epoch_seconds * image_ratio * flops_ratio * epochs * runs
