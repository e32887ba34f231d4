"""Verdicts of the paper's claims C1–C4 from complexity.csv rows, with
intervals.

The replicate is the NTK subset: rows may carry integer columns `subset` (which
class-balanced subset of training examples the kernel was taken on) and `draw`
(which random-label draw); rows without them count as subset 0, draw 0. Within a
subset, duplicate rows of the same targets (e.g. several random-label draws) are
averaged, so the spread of every comparison is the spread over subsets. Each
comparison is paired by subset (`kd_ntk.science.stats.paired`), and one subset
gives "not testable in this regime" (no spread), never a pass or a fail.

Norm-matched variants (C2n, C4n) rescale every target matrix to the Frobenius
norm of one-hot labels, ASC_nm = ASC · sqrt(n) / ‖Y‖_F (ASC is homogeneous of
degree 1 in Y), so that a fall in ASC is not only the targets shrinking towards
the uniform distribution. They need the column `target_norm` (‖Y‖_F).

Ridge-dominated values (rows with `ridge_dominated` true: the number is set by
the ridge, not by the kernel) are not measurements. A comparison that would use
one is "not testable in this regime" (its reason names the values), and so is
every claim with such a comparison, whatever its other comparisons say.

C3 is two claims, tested separately: C3a the drop ASC(e_0) − ASC(e_ref) and
C3b the rise ASC(e_last) − ASC(e_ref). The reference epoch e_ref is either
fixed in the config before the run (`c3_window` = (e_ref, e_end)) or chosen
per subset s on the *other* subsets (the inner epoch of lowest mean ASC over
subsets ≠ s; leave-one-out), so that the subset tested never chose its own
minimum (choosing it on the same data biases both differences upwards).
"""

from collections.abc import Sequence

import numpy as np

from kd_ntk.science import stats
from kd_ntk.science.verdicts import (  # noqa: F401 (re-exported)
  format_verdict,
  verdict,
)

from kd_ntk.science.asc_rows import (  # noqa: F401 (re-exported)
  ASC_COLUMN,
  NORM_MATCHED,
  RIDGE_REASON,
  compare,
  decide,
  per_subset,
  ridge_blocked,
  with_norm_matched,
)
from kd_ntk.science.asc_rows import final_teacher_epoch as _final_teacher_epoch
from kd_ntk.science.asc_rows import means as _means
from kd_ntk.science.asc_rows import ridge_note as _ridge_note
from kd_ntk.science.c3_trajectory import claim_c3  # noqa: F401 (re-exported)


def _kernel(rows, kernel_epoch):
  return (
    min(r["student_epoch"] for r in rows)
    if kernel_epoch is None
    else kernel_epoch
  )


C1_RULE = (
  "Two comparisons paired by NTK subset: ASC(random labels) − ASC(labels) and "
  "ASC(labels) − ASC(final teacher, τ=1). Supported if both intervals lie above "
  "0; contradicted if either lies below 0; not testable if a value is "
  "ridge-dominated; otherwise no detectable difference."
)


def claim_c1(rows: list[dict], kernel_epoch=None) -> dict:
  """Random labels > labels > final teacher (τ=1) under one student kernel."""
  prediction = "ASC: random labels > labels > final teacher (τ=1)"
  kernel, final = _kernel(rows, kernel_epoch), _final_teacher_epoch(rows)
  at = dict(student_epoch=kernel)
  rand = per_subset(rows, target="random_labels", **at)
  labels = per_subset(rows, target="labels", **at)
  teacher = per_subset(
    rows, target="teacher", teacher_epoch=final, temperature=1.0, **at
  )
  teacher_match = dict(
    target="teacher", teacher_epoch=final, temperature=1.0, **at
  )
  comps = [
    compare(
      "ASC(random labels) − ASC(labels)",
      rows,
      column=ASC_COLUMN,
      a=dict(target="random_labels", **at),
      b=dict(target="labels", **at),
    ),
    compare(
      "ASC(labels) − ASC(final teacher, τ=1)",
      rows,
      column=ASC_COLUMN,
      a=dict(target="labels", **at),
      b=teacher_match,
    ),
  ]
  return verdict(
    "C1",
    prediction + f" (student NTK at epoch {kernel:g})",
    rule=C1_RULE,
    outcome=decide(comps),
    comparisons=comps,
    note=_ridge_note(rows),
    numbers=_means(
      {"random_labels": rand, "labels": labels, "teacher": teacher}
    ),
  )


C2_RULE = (
  "Paired by NTK subset, teacher checkpoints at τ=1: growth = ASC(final "
  "checkpoint T) − ASC(checkpoint 0); near-minimum = ASC(t*) − ASC(0), t* the "
  "checkpoint t > 0 with the lowest mean ASC. Supported if growth is supported "
  "and near-minimum is not contradicted; contradicted if either is contradicted; "
  "not testable with fewer than 3 checkpoints or 2 subsets, or if a value is "
  "ridge-dominated; otherwise no detectable difference."
)


def claim_c2(
  rows: list[dict],
  kernel_epoch=None,
  column: str = ASC_COLUMN,
  claim: str = "C2",
) -> dict:
  """ASC of teacher checkpoint t grows with t, near its minimum at t = 0."""
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
      rule=C2_RULE,
      outcome=stats.NOT_TESTABLE,
      comparisons=[stats.not_testable("ASC(T) − ASC(0)", missing)],
      note=missing,
    )
  first, last = epochs[0], epochs[-1]
  later = {t: np.mean(list(series[t].values())) for t in epochs[1:]}
  t_star = min(later, key=later.get)
  at = dict(target="teacher", temperature=1.0, student_epoch=kernel)
  growth = compare(
    f"ASC(checkpoint {last:g}) − ASC(checkpoint {first:g})",
    rows,
    column=column,
    a=dict(teacher_epoch=last, **at),
    b=dict(teacher_epoch=first, **at),
  )
  near = compare(
    f"ASC(checkpoint {t_star:g}, lowest t>0) − ASC(checkpoint {first:g})",
    rows,
    column=column,
    a=dict(teacher_epoch=t_star, **at),
    b=dict(teacher_epoch=first, **at),
  )
  if ridge_blocked([growth, near]):
    outcome = stats.NOT_TESTABLE
  elif stats.CONTRADICTED in (growth.outcome, near.outcome):
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
    rule=C2_RULE,
    outcome=outcome,
    comparisons=[growth, near],
    note=_ridge_note(rows),
    numbers={
      f"teacher_epoch_{t:g}": v
      for t, v in _means({t: s for t, s in series.items()}).items()
    },
  )


C4_RULE = (
  "Paired by NTK subset, final teacher: ASC(τ_i) − ASC(τ_{i+1}) for each pair "
  "of consecutive temperatures. Supported if all are supported; contradicted if "
  "any is contradicted; otherwise no detectable difference (not testable with "
  "fewer than 2 temperatures or 2 subsets, or if a value is ridge-dominated)."
)


def claim_c4(
  rows: list[dict],
  kernel_epoch=None,
  column: str = ASC_COLUMN,
  claim: str = "C4",
) -> dict:
  """ASC of softmax(z_T/τ) falls as τ grows (final teacher, one kernel)."""
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
      rule=C4_RULE,
      outcome=stats.NOT_TESTABLE,
      comparisons=[stats.not_testable("ASC(τ_i) − ASC(τ_i+1)", reason)],
      note=reason,
    )
  at = dict(target="teacher", teacher_epoch=final, student_epoch=kernel)
  comps = [
    compare(
      f"ASC(τ={a:g}) − ASC(τ={b:g})",
      rows,
      column=column,
      a=dict(temperature=a, **at),
      b=dict(temperature=b, **at),
    )
    for a, b in zip(taus, taus[1:])
  ]
  return verdict(
    claim,
    prediction + f" (student NTK at epoch {kernel:g})",
    rule=C4_RULE,
    outcome=decide(comps),
    comparisons=comps,
    note=_ridge_note(rows),
    numbers={f"tau_{t:g}": v for t, v in _means(series).items()},
  )


def complexity_verdicts(
  rows: list[dict],
  kernel_epoch=None,
  c3_regime_reason: str = "",
  *,
  c3_window: Sequence[float] = (),
) -> list[dict]:
  """Verdicts C1, C2, C2n (norm-matched), C3a, C3b, C4, C4n from complexity
  rows.

  Args:
    rows: complexity.csv rows (see the module docstring for optional columns).
    kernel_epoch: student epoch whose NTK C1, C2 and C4 use (default: the
      first).
    c3_regime_reason: non-empty when the regime cannot show C3 (e.g. a schedule
      decaying to zero freezes the kernel); C3 is then not testable, with it.
    c3_window: (e_ref, e_end) of C3 fixed before the run (config
      complexity.c3_window); () chooses C3's reference on other subsets.
  """
  if not rows:
    return []
  rows = with_norm_matched(rows)
  return [
    claim_c1(rows, kernel_epoch),
    claim_c2(rows, kernel_epoch),
    claim_c2(rows, kernel_epoch, NORM_MATCHED, "C2n"),
    *claim_c3(rows, c3_regime_reason, c3_window),
    claim_c4(rows, kernel_epoch),
    claim_c4(rows, kernel_epoch, NORM_MATCHED, "C4n"),
  ]
