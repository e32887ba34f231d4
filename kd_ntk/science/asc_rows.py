"""Complexity rows as paired-by-subset series, and the ridge guard of C1–C4.

Shared by `kd_ntk.science.claims` (C1, C2, C4) and
`kd_ntk.science.c3_trajectory` (C3). A ridge-dominated value (row with
`ridge_dominated` true: the number is set by the ridge, not by the kernel) is
not a measurement: `compare` makes any comparison that would use one NOT
TESTABLE, and `decide` makes every claim with such a comparison NOT TESTABLE.
"""

import math

import numpy as np

from kd_ntk.science import stats

ASC_COLUMN = "asc"
NORM_MATCHED = "asc_norm_matched"


def with_norm_matched(rows: list[dict]) -> list[dict]:
  """Rows with `asc_norm_matched` = asc·sqrt(n)/target_norm where known."""
  out = []
  for r in rows:
    norm, n = r.get("target_norm"), r.get("n")
    value = None
    if norm not in (None, "") and n not in (None, "") and float(norm) > 0:
      value = float(r["asc"]) * math.sqrt(float(n)) / float(norm)
    out.append({**r, NORM_MATCHED: value})
  return out


def subset_of(row) -> int:
  value = row.get("subset")
  return 0 if value in (None, "") else int(value)


def per_subset(
  rows: list[dict], column: str = ASC_COLUMN, **match
) -> dict[int, float]:
  """subset -> mean of `column` over rows matching the fields and all draws."""
  groups: dict[int, list[float]] = {}
  for r in rows:
    if (
      all(r.get(k) == v for k, v in match.items()) and r.get(column) is not None
    ):
      groups.setdefault(subset_of(r), []).append(float(r[column]))
  return {s: float(np.mean(v)) for s, v in sorted(groups.items())}


def final_teacher_epoch(rows) -> float | None:
  epochs = [r["teacher_epoch"] for r in rows if r.get("target") == "teacher"]
  return max(epochs) if epochs else None


def ridge_note(rows) -> str:
  flagged = sorted(
    {
      f"{r['target']}@student{r['student_epoch']:g}"
      + (
        f"/teacher{r['teacher_epoch']:g}/tau{r['temperature']:g}"
        if r["target"] == "teacher"
        else ""
      )
      for r in rows
      if r.get("ridge_dominated")
    }
  )
  return f"ridge-dominated values: {flagged}" if flagged else ""


RIDGE_REASON = "ridge-dominated ASC"


def ridge_subsets(rows: list[dict], **match) -> list[int]:
  """Subsets with a ridge-dominated row matching every field."""
  return sorted(
    {
      subset_of(r)
      for r in rows
      if r.get("ridge_dominated")
      and all(r.get(k) == v for k, v in match.items())
    }
  )


def compare(
  what: str, rows: list[dict], *, column: str, a: dict, b: dict
) -> stats.Comparison:
  """ASC of the rows matching `a` − of those matching `b`, paired by subset.

  NOT_TESTABLE (reason starting with RIDGE_REASON) when any row of either arm
  is ridge-dominated.
  """
  flagged = {
    "first arm": ridge_subsets(rows, **a),
    "second arm": ridge_subsets(rows, **b),
  }
  diffs_a, diffs_b = (
    per_subset(rows, column, **a),
    per_subset(rows, column, **b),
  )
  if any(flagged.values()):
    where = "; ".join(f"{k}: subsets {v}" for k, v in flagged.items() if v)
    diffs = {s: diffs_a[s] - diffs_b[s] for s in diffs_a if s in diffs_b}
    return stats.not_testable(what, f"{RIDGE_REASON} ({where})", diffs)
  return stats.paired(what, diffs_a, diffs_b)


def ridge_blocked(comparisons) -> bool:
  """True when a comparison is not testable for ridge-dominated values."""
  return any(c.reason.startswith(RIDGE_REASON) for c in comparisons)


def decide(comparisons) -> str:
  """`stats.combine_all`, except that a ridge-dominated input makes the claim
  not testable (never supported, contradicted or without difference)."""
  if ridge_blocked(comparisons):
    return stats.NOT_TESTABLE
  return stats.combine_all(comparisons)


def means(series: dict[str, dict[int, float]]) -> dict[str, float]:
  return {
    k: round(float(np.mean(list(v.values()))), 4)
    for k, v in series.items()
    if v
  }
