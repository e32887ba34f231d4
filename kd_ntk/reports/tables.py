"""Markdown tables of mean ± std over seeds."""

import json
import os
from collections.abc import Sequence

import numpy as np


def read_jsonl(path: str) -> list[dict]:
  """Rows of a JSON-lines file ([] when it does not exist)."""
  if not os.path.exists(path):
    return []
  with open(path) as fh:
    return [json.loads(line) for line in fh if line.strip()]


def mean_std(
  values: Sequence[float], scale: float = 1.0, digits: int = 2
) -> str:
  """ "mean ± std" (population std over seeds) of finite values, or "n/a"."""
  vals = (
    np.asarray([v for v in values if v is not None and np.isfinite(v)], float)
    * scale
  )
  if not len(vals):
    return "n/a"
  return f"{vals.mean():.{digits}f} ± {vals.std():.{digits}f}"


def markdown_table(header: Sequence[str], rows: list[Sequence[str]]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def results_table(
  results: dict[str, dict[str, list[float]]],
  methods: Sequence[str],
  scale: float = 100.0,
) -> str:
  """One row per student, one column per method, cells mean ± std over seeds.

  Args:
    results: student -> method -> list of per-seed values (e.g. test accuracy).
    methods: column order.
  """
  body = [
    [student] + [mean_std(per_method.get(m, []), scale) for m in methods]
    for student, per_method in results.items()
  ]
  return markdown_table(["student"] + list(methods), body)


def complexity_table(rows: list[dict], student_epoch) -> str:
  """ASC (and SC) per target under one student kernel, with the ridge flag."""
  body = []
  for r in rows:
    if r["student_epoch"] != student_epoch:
      continue
    name = (
      r["target"]
      if r["target"] != "teacher"
      else f"teacher epoch {r['teacher_epoch']:g}, τ={r['temperature']:g}"
    )
    body.append(
      [
        name,
        f"{r['asc']:.4f}",
        f"{r['sc']:.4g}",
        f"{r['condition_number']:.3g}",
        "yes" if r.get("ridge_dominated") else "no",
      ]
    )
  return markdown_table(
    ["targets", "ASC", "SC", "cond(K)", "ridge-dominated"], body
  )


def power_table(
  verdicts: list[dict],
  claims: Sequence[str] = ("C5", "C6", "C7", "C8"),
  *,
  scale: float = 100.0,
  half_width: float = 0.5,
  effect: float = 1.0,
) -> str:
  """Each testable comparison of `claims`: paired SD, half-width and detectable
  effect reached, and the seeds a rerun needs for `half_width` and `effect`
  (in the scaled unit, points by default) at this run's SD
  (`kd_ntk.science.power`). "" when no comparison qualifies."""
  from kd_ntk.science import power  # scipy only where the table is made.

  body = []
  for v in verdicts:
    if not v["claim"].startswith(tuple(claims)):
      continue
    for c in v["comparisons"]:
      sd = c.get("sd", float("nan"))
      if c["n"] < 2 or not np.isfinite(sd) or sd <= 0:
        continue
      s = sd * scale
      body.append(
        [
          v["claim"],
          c["what"],
          str(c["n"]),
          f"{s:.2f}",
          f"{(c['high'] - c['low']) / 2 * scale:.2f}",
          f"{c['mde'] * scale:.2f}",
          str(power.seeds_for_half_width(s, half_width)),
          str(power.seeds_for_effect(s, effect)),
        ]
      )
  if not body:
    return ""
  return markdown_table(
    [
      "claim",
      "comparison",
      "pairs",
      "paired SD",
      "half-width",
      "detectable (80%)",
      f"seeds for half-width {half_width:g}",
      f"seeds to detect {effect:g}",
    ],
    body,
  )
