"""Verdicts of the paper's claims C1–C4 from complexity.csv rows, with intervals.

The replicate is the NTK subset: rows may carry integer columns `subset` (which
class-balanced subset of training examples the kernel was taken on) and `draw`
(which random-label draw); rows without them count as subset 0, draw 0. Within a
subset, duplicate rows of the same targets (e.g. several random-label draws) are
averaged, so the spread of every comparison is the spread over subsets. Each
comparison is paired by subset (`kd_ntk.analysis.stats.paired`), and one subset
gives "not testable in this regime" (no spread), never a pass or a fail.

Norm-matched variants (C2n, C4n) rescale every target matrix to the Frobenius
norm of one-hot labels, ASC_nm = ASC · sqrt(n) / ‖Y‖_F (ASC is homogeneous of
degree 1 in Y), so that a fall in ASC is not only the targets shrinking towards
the uniform distribution. They need the column `target_norm` (‖Y‖_F).
"""

import math
from typing import Dict, List, Optional

import numpy as np

from kd_ntk.analysis import stats
from kd_ntk.analysis.verdicts import format_verdict, verdict  # noqa: F401 (re-export)

ASC_COLUMN = "asc"
NORM_MATCHED = "asc_norm_matched"


def with_norm_matched(rows: List[Dict]) -> List[Dict]:
  """Rows with `asc_norm_matched` = asc·sqrt(n)/target_norm where target_norm is known."""
  out = []
  for r in rows:
    norm, n = r.get("target_norm"), r.get("n")
    value = None
    if norm not in (None, "") and n not in (None, "") and float(norm) > 0:
      value = float(r["asc"]) * math.sqrt(float(n)) / float(norm)
    out.append({**r, NORM_MATCHED: value})
  return out


def _subset(row) -> int:
  value = row.get("subset")
  return 0 if value in (None, "") else int(value)


def per_subset(
  rows: List[Dict], column: str = ASC_COLUMN, **match
) -> Dict[int, float]:
  """subset -> mean of `column` over the rows matching every field (draws averaged)."""
  groups: Dict[int, List[float]] = {}
  for r in rows:
    if (
      all(r.get(k) == v for k, v in match.items()) and r.get(column) is not None
    ):
      groups.setdefault(_subset(r), []).append(float(r[column]))
  return {s: float(np.mean(v)) for s, v in sorted(groups.items())}


def _final_teacher_epoch(rows) -> Optional[float]:
  epochs = [r["teacher_epoch"] for r in rows if r.get("target") == "teacher"]
  return max(epochs) if epochs else None


def _kernel(rows, kernel_epoch):
  return (
    min(r["student_epoch"] for r in rows)
    if kernel_epoch is None
    else kernel_epoch
  )


def _ridge_note(rows) -> str:
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


def _means(series: Dict[str, Dict[int, float]]) -> Dict[str, float]:
  return {
    k: round(float(np.mean(list(v.values()))), 4)
    for k, v in series.items()
    if v
  }


C1_RULE = (
  "Two comparisons paired by NTK subset: ASC(random labels) − ASC(labels) and "
  "ASC(labels) − ASC(final teacher, τ=1). Supported if both intervals lie above "
  "0; contradicted if either lies below 0; otherwise no detectable difference."
)


def claim_c1(rows: List[Dict], kernel_epoch=None) -> Dict:
  """Random labels > labels > final teacher (τ=1) under one student kernel."""
  prediction = "ASC: random labels > labels > final teacher (τ=1)"
  kernel, final = _kernel(rows, kernel_epoch), _final_teacher_epoch(rows)
  at = dict(student_epoch=kernel)
  rand = per_subset(rows, target="random_labels", **at)
  labels = per_subset(rows, target="labels", **at)
  teacher = per_subset(
    rows, target="teacher", teacher_epoch=final, temperature=1.0, **at
  )
  comps = [
    stats.paired("ASC(random labels) − ASC(labels)", rand, labels),
    stats.paired("ASC(labels) − ASC(final teacher, τ=1)", labels, teacher),
  ]
  return verdict(
    "C1",
    prediction + f" (student NTK at epoch {kernel:g})",
    C1_RULE,
    stats.combine_all(comps),
    comps,
    _ridge_note(rows),
    _means({"random_labels": rand, "labels": labels, "teacher": teacher}),
  )


C2_RULE = (
  "Paired by NTK subset, teacher checkpoints at τ=1: growth = ASC(final "
  "checkpoint T) − ASC(checkpoint 0); near-minimum = ASC(t*) − ASC(0), t* the "
  "checkpoint t > 0 with the lowest mean ASC. Supported if growth is supported "
  "and near-minimum is not contradicted; contradicted if either is contradicted; "
  "not testable with fewer than 3 checkpoints or 2 subsets; otherwise no "
  "detectable difference."
)


def claim_c2(
  rows: List[Dict],
  kernel_epoch=None,
  column: str = ASC_COLUMN,
  claim: str = "C2",
) -> Dict:
  """ASC of teacher checkpoint t grows with t and is near its minimum at t = 0."""
  prediction = (
    "ASC of teacher checkpoint t grows with t and is near its minimum at t = 0"
  )
  if column == NORM_MATCHED:
    prediction += " (targets scaled to the labels' Frobenius norm)"
  kernel = _kernel(rows, kernel_epoch)
  epochs = sorted(
    {
      r["teacher_epoch"]
      for r in rows
      if r.get("target") == "teacher"
      and r["student_epoch"] == kernel
      and r.get("temperature") == 1.0
    }
  )
  series = {
    t: per_subset(
      rows,
      column,
      target="teacher",
      teacher_epoch=t,
      temperature=1.0,
      student_epoch=kernel,
    )
    for t in epochs
  }
  if len(epochs) < 3 or not all(series.values()):
    missing = (
      "no target_norm column"
      if column == NORM_MATCHED and not any(series.values())
      else f"{len(epochs)} teacher checkpoint(s), 3 needed"
    )
    return verdict(
      claim,
      prediction,
      C2_RULE,
      stats.NOT_TESTABLE,
      [stats.not_testable("ASC(T) − ASC(0)", missing)],
      missing,
    )
  first, last = epochs[0], epochs[-1]
  later = {t: np.mean(list(series[t].values())) for t in epochs[1:]}
  t_star = min(later, key=later.get)
  growth = stats.paired(
    f"ASC(checkpoint {last:g}) − ASC(checkpoint {first:g})",
    series[last],
    series[first],
  )
  near = stats.paired(
    f"ASC(checkpoint {t_star:g}, lowest t>0) − ASC(checkpoint {first:g})",
    series[t_star],
    series[first],
  )
  if stats.CONTRADICTED in (growth.outcome, near.outcome):
    outcome = stats.CONTRADICTED
  elif growth.outcome == stats.NOT_TESTABLE:
    outcome = stats.NOT_TESTABLE
  elif growth.outcome == stats.SUPPORTED:
    outcome = stats.SUPPORTED
  else:
    outcome = stats.NO_DIFFERENCE
  return verdict(
    claim,
    prediction + f" (student NTK at epoch {kernel:g})",
    C2_RULE,
    outcome,
    [growth, near],
    _ridge_note(rows),
    {
      f"teacher_epoch_{t:g}": v
      for t, v in _means({t: s for t, s in series.items()}).items()
    },
  )


C3_RULE = (
  "For random labels, labels and the final teacher (τ=1), paired by NTK subset "
  "over the student's epochs e_0 < … < e_last, with e* the epoch strictly between "
  "them of lowest mean ASC: drop = ASC(e_0) − ASC(e*), rise = ASC(e_last) − "
  "ASC(e*). Supported if all six are supported; contradicted if any is "
  "contradicted; not testable with fewer than 3 student kernels, 2 subsets, or "
  "a schedule that freezes the kernel; otherwise no detectable difference."
)


def claim_c3(rows: List[Dict], regime_reason: str = "") -> Dict:
  """Fixed targets under successive student kernels: high at init, sharp drop, slow rise."""
  prediction = (
    "fixed targets under the student's NTK at successive epochs: high at "
    "init, sharp drop, slow rise"
  )
  epochs = sorted({r["student_epoch"] for r in rows})
  if regime_reason or len(epochs) < 3:
    reason = (
      regime_reason or f"{len(epochs)} student kernel(s), 3 or more needed"
    )
    return verdict(
      "C3",
      prediction,
      C3_RULE,
      stats.NOT_TESTABLE,
      [stats.not_testable("drop and rise of ASC", reason)],
      reason,
    )
  final = _final_teacher_epoch(rows)
  comps, numbers = [], {}
  for name, match in (
    ("random labels", {"target": "random_labels"}),
    ("labels", {"target": "labels"}),
    (
      "final teacher",
      {"target": "teacher", "teacher_epoch": final, "temperature": 1.0},
    ),
  ):
    series = {e: per_subset(rows, student_epoch=e, **match) for e in epochs}
    means = {
      e: float(np.mean(list(s.values()))) for e, s in series.items() if s
    }
    numbers[name] = {f"{e:g}": round(v, 4) for e, v in means.items()}
    inner = [e for e in epochs[1:-1] if e in means]
    if not inner:
      comps.append(
        stats.not_testable(f"{name}: drop and rise", "no inner epoch scored")
      )
      continue
    low = min(inner, key=means.get)
    comps.append(
      stats.paired(
        f"{name}: ASC(epoch {epochs[0]:g}) − ASC(epoch {low:g})",
        series[epochs[0]],
        series[low],
      )
    )
    comps.append(
      stats.paired(
        f"{name}: ASC(epoch {epochs[-1]:g}) − ASC(epoch {low:g})",
        series[epochs[-1]],
        series[low],
      )
    )
  return verdict(
    "C3",
    prediction,
    C3_RULE,
    stats.combine_all(comps),
    comps,
    _ridge_note(rows),
    numbers,
  )


C4_RULE = (
  "Paired by NTK subset, final teacher: ASC(τ_i) − ASC(τ_{i+1}) for each pair "
  "of consecutive temperatures. Supported if all are supported; contradicted if "
  "any is contradicted; otherwise no detectable difference (not testable with "
  "fewer than 2 temperatures or 2 subsets)."
)


def claim_c4(
  rows: List[Dict],
  kernel_epoch=None,
  column: str = ASC_COLUMN,
  claim: str = "C4",
) -> Dict:
  """ASC of softmax(z_T/τ) falls as τ grows (final teacher, one student kernel)."""
  prediction = "ASC of the final teacher's softmax(z/τ) falls as τ grows"
  if column == NORM_MATCHED:
    prediction += " (targets scaled to the labels' Frobenius norm)"
  kernel, final = _kernel(rows, kernel_epoch), _final_teacher_epoch(rows)
  taus = sorted(
    {
      r["temperature"]
      for r in rows
      if r.get("target") == "teacher"
      and r["teacher_epoch"] == final
      and r["student_epoch"] == kernel
    }
  )
  series = {
    t: per_subset(
      rows,
      column,
      target="teacher",
      teacher_epoch=final,
      temperature=t,
      student_epoch=kernel,
    )
    for t in taus
  }
  if len(taus) < 2 or not all(series.values()):
    reason = (
      "no target_norm column"
      if column == NORM_MATCHED
      else f"{len(taus)} temperature(s), 2 needed"
    )
    return verdict(
      claim,
      prediction,
      C4_RULE,
      stats.NOT_TESTABLE,
      [stats.not_testable("ASC(τ_i) − ASC(τ_i+1)", reason)],
      reason,
    )
  comps = [
    stats.paired(f"ASC(τ={a:g}) − ASC(τ={b:g})", series[a], series[b])
    for a, b in zip(taus, taus[1:])
  ]
  return verdict(
    claim,
    prediction + f" (student NTK at epoch {kernel:g})",
    C4_RULE,
    stats.combine_all(comps),
    comps,
    _ridge_note(rows),
    {f"tau_{t:g}": v for t, v in _means(series).items()},
  )


def complexity_verdicts(
  rows: List[Dict], kernel_epoch=None, c3_regime_reason: str = ""
) -> List[Dict]:
  """Verdicts C1, C2, C2n (norm-matched), C3, C4, C4n from complexity.csv rows.

  Args:
    rows: complexity.csv rows (see the module docstring for optional columns).
    kernel_epoch: student epoch whose NTK C1, C2 and C4 use (default: the first).
    c3_regime_reason: non-empty when the regime cannot show C3 (e.g. a schedule
      decaying to zero freezes the kernel); C3 is then not testable, with it.
  """
  if not rows:
    return []
  rows = with_norm_matched(rows)
  return [
    claim_c1(rows, kernel_epoch),
    claim_c2(rows, kernel_epoch),
    claim_c2(rows, kernel_epoch, NORM_MATCHED, "C2n"),
    claim_c3(rows, c3_regime_reason),
    claim_c4(rows, kernel_epoch),
    claim_c4(rows, kernel_epoch, NORM_MATCHED, "C4n"),
  ]
