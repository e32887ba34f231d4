"""C3: ASC's drop and rise along the student's epochs, honest references.

The paper's C3: fixed targets scored under the student's NTK at successive
epochs e_0 < … < e_last give an ASC that is high at initialisation, drops
sharply, then rises slowly. With ASC_s(e) the value on NTK subset s, the two
parts are tested separately, each by a paired t-interval over subsets:

  drop  d_s = ASC_s(e_0)    − ASC_s(r_s)      (prediction: > 0)
  rise  u_s = ASC_s(e_end)  − ASC_s(r_s)      (prediction: > 0)

The reference r_s is never chosen on the subset it is tested on:

  fixed window  r_s = e_ref and e_end given before the run (config);
  leave-one-out r_s = argmin_{e_0 < e < e_last} mean_{s' ≠ s} ASC_{s'}(e),
                e_end = e_last.

Choosing the minimum on the tested subset itself makes ASC_s(e_end) −
min_e ASC_s(e) ≥ 0 whatever the truth (a rise found in pure noise); on
disjoint subsets the leave-one-out choice is independent of subset s's noise.
"""

import math
from collections.abc import Sequence

import numpy as np

from kd_ntk.science import stats
from kd_ntk.science.asc_rows import (
  RIDGE_REASON,
  decide,
  final_teacher_epoch,
  per_subset,
  ridge_note,
  ridge_subsets,
)
from kd_ntk.science.verdicts import not_testable, verdict

Series = dict[float, dict[int, float]]  # epoch -> subset -> ASC


def reference_epochs(
  series: Series, inner: Sequence[float]
) -> dict[int, float]:
  """subset -> the inner epoch of lowest mean ASC over the *other* subsets.

  Args:
    series: epoch -> subset -> ASC.
    inner: candidate reference epochs (strictly between the first and last).

  Returns:
    {s: r_s} for every subset present at all inner epochs; {} with fewer
    than 2 such subsets (no other subset to choose on). Ties go to the
    earlier epoch.
  """
  subsets = sorted(
    set.intersection(*(set(series.get(e, {})) for e in inner))
    if inner
    else set()
  )
  if len(subsets) < 2:
    return {}
  out = {}
  for s in subsets:
    others = [t for t in subsets if t != s]
    means = {e: float(np.mean([series[e][t] for t in others])) for e in inner}
    out[s] = min(inner, key=lambda e: (means[e], e))
  return out


def online_teacher_epoch(
  student_epoch: float, final_teacher: float, last_student: float
) -> float:
  """The online teacher's checkpoint at student epoch e: ⌈e·T/E⌉ (T, E the
  last teacher and student epochs; `kd_ntk.distill.sources`' online map at
  offset 0; e itself when T = E)."""
  return float(math.ceil(student_epoch * final_teacher / last_student))


def online_teacher_series(rows: list[dict]) -> dict[str, float]:
  """Mean ASC (τ = 1) of the online teacher under the student's kernel at each
  student epoch e: teacher checkpoint ⌈e·T/E⌉ (T, E the last teacher and
  student epochs; `kd_ntk.distill.sources`' online map at offset 0), where
  that checkpoint was scored. Descriptive (the paper's figure), not tested.
  """
  epochs = sorted({r["student_epoch"] for r in rows})
  final = final_teacher_epoch(rows)
  if not epochs or not final or not epochs[-1]:
    return {}
  out = {}
  for e in epochs:
    t = online_teacher_epoch(e, final, epochs[-1])
    values = per_subset(
      rows, student_epoch=e, target="teacher", teacher_epoch=t, temperature=1.0
    )
    if values:
      out[f"{e:g}"] = round(float(np.mean(list(values.values()))), 4)
  return out


def differences(
  series: Series,
  epochs: Sequence[float],
  window: tuple[float, float] | None = None,
) -> tuple[dict[int, float], dict[int, float], dict[int, float], str]:
  """Per-subset drop and rise differences and the references used.

  Args:
    series: epoch -> subset -> ASC of one target.
    epochs: the student epochs scored, ascending.
    window: (e_ref, e_end) fixed before the run, or None for leave-one-out.

  Returns:
    (drop {s: d_s}, rise {s: u_s}, reference {s: r_s}, reason); reason is
    non-empty (and the dicts empty) when the series cannot be tested.
  """
  epochs = sorted(epochs)
  if len(epochs) < 3:
    return {}, {}, {}, f"{len(epochs)} student kernel(s), 3 or more needed"
  first = epochs[0]
  if window:
    ref, end = (float(e) for e in window)
    missing = [e for e in (ref, end) if e not in series]
    if missing or not first < ref < end:
      return (
        {},
        {},
        {},
        f"c3_window {tuple(window)} must be scored epochs with "
        f"{first:g} < e_ref < e_end (scored: {[f'{e:g}' for e in epochs]})",
      )
    refs = {s: ref for s in series[ref]}
  else:
    end = epochs[-1]
    refs = reference_epochs(series, epochs[1:-1])
    if not refs:
      return (
        {},
        {},
        {},
        "fewer than 2 subsets: the reference epoch must be chosen on other "
        "subsets than the one tested",
      )
  keep = [
    s for s in refs if s in series.get(first, {}) and s in series.get(end, {})
  ]
  drop = {s: series[first][s] - series[refs[s]][s] for s in keep}
  rise = {s: series[end][s] - series[refs[s]][s] for s in keep}
  return drop, rise, {s: refs[s] for s in keep}, ""


C3A_RULE = (
  "For random labels, labels and the final teacher (τ=1), paired by NTK subset "
  "s: drop = ASC(e_0) − ASC(r_s), e_0 the first student epoch and r_s the "
  "reference epoch: fixed in the config (c3_window) or the inner epoch of "
  "lowest mean ASC over the other subsets. Supported if all three are supported; "
  "contradicted if any is contradicted; not testable with fewer than 3 student "
  "kernels or 2 subsets, a ridge-dominated value, or a schedule that freezes "
  "the kernel; otherwise no detectable difference."
)
C3B_RULE = (
  "As C3a, with rise = ASC(e_end) − ASC(r_s), e_end the last student epoch (or "
  "the window's end): the reference is never chosen on the subset tested."
)
C3_TARGETS = (
  ("random labels", {"target": "random_labels"}),
  ("labels", {"target": "labels"}),
)


def claim_c3(
  rows: list[dict], regime_reason: str = "", window: Sequence[float] = ()
) -> list[dict]:
  """C3a (sharp drop) and C3b (slow rise) of fixed targets' ASC along the
  student's epochs, tested separately (`kd_ntk.science.c3_trajectory`).

  Args:
    rows: complexity rows at several student epochs.
    regime_reason: non-empty when the regime cannot show C3.
    window: (e_ref, e_end) fixed before the run; () chooses the reference on
      the other subsets (leave-one-out).
  """
  pred_a = "fixed targets under the student's NTK: ASC drops sharply after init"
  pred_b = "fixed targets under the student's NTK: ASC then rises slowly"
  epochs = sorted({r["student_epoch"] for r in rows})
  reason = regime_reason or (
    f"{len(epochs)} student kernel(s), 3 or more needed"
    if len(epochs) < 3
    else ""
  )
  if reason:
    return [
      not_testable("C3a", pred_a, C3A_RULE, reason),
      not_testable("C3b", pred_b, C3B_RULE, reason),
    ]
  final = final_teacher_epoch(rows)
  targets = C3_TARGETS + (
    (
      "final teacher",
      {"target": "teacher", "teacher_epoch": final, "temperature": 1.0},
    ),
  )
  drops, rises, numbers = [], [], {}
  for name, match in targets:
    series = {e: per_subset(rows, student_epoch=e, **match) for e in epochs}
    series = {e: v for e, v in series.items() if v}
    numbers[name] = {
      f"{e:g}": round(float(np.mean(list(v.values()))), 4)
      for e, v in series.items()
    }
    drop, rise, refs, why = differences(
      series, sorted(series), tuple(window) or None
    )
    flagged = ridge_subsets(rows, **match)
    ref = f"epoch {window[0]:g}" if window else "reference (other subsets)"
    end = window[1] if window else epochs[-1]
    what_a = f"{name}: ASC(epoch {epochs[0]:g}) − ASC({ref})"
    what_b = f"{name}: ASC(epoch {end:g}) − ASC({ref})"
    if why or flagged:
      why = why or f"{RIDGE_REASON} (subsets {flagged})"
      drops.append(stats.not_testable(what_a, why, drop))
      rises.append(stats.not_testable(what_b, why, rise))
      continue
    numbers[name]["reference_by_subset"] = {str(s): r for s, r in refs.items()}
    zeros = {s: 0.0 for s in drop}
    drops.append(stats.paired(what_a, drop, zeros))
    rises.append(stats.paired(what_b, rise, zeros))
  numbers["online teacher (descriptive)"] = online_teacher_series(rows)
  how = (
    f"reference and end fixed before the run: {tuple(window)}"
    if window
    else "reference epoch chosen per subset on the other subsets"
  )
  note = "; ".join(x for x in (how, ridge_note(rows)) if x)
  return [
    verdict(
      "C3a",
      pred_a,
      rule=C3A_RULE,
      outcome=decide(drops),
      comparisons=drops,
      note=note,
      numbers=numbers,
    ),
    verdict(
      "C3b",
      pred_b,
      rule=C3B_RULE,
      outcome=decide(rises),
      comparisons=rises,
      note=note,
      numbers=numbers,
    ),
  ]
