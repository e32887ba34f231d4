"""The capacity gap: how far the teacher is above students trained on labels.

The paper's accuracy claims (C5–C7) concern students much smaller than their
teacher. For each width w of the claims' family, over the labels-only
students of the main task (diverged runs dropped):

  gap(w) = a_T − ā_S(w),   ā_S(w) = (1/n) Σ_s a_S(w, s)

with a_T the teacher's final test accuracy (one run) and a_S(w, s) the test
accuracy of seed s; the 95% interval is the Student-t interval of the mean
over seeds (`stats.t_interval`), shifted by a_T (the teacher is one run, so
its own seed noise is not in the interval). A width counts as a *large gap*
when the whole interval lies at or above `LARGE_GAP` points.
"""

from kd_ntk.science import stats

LARGE_GAP = 5.0  # Points: the gap the accuracy claims need (issue text).


def capacity_gaps(
  rows: list[dict], teacher_accuracy: float, family: str
) -> list[dict]:
  """One row per width of `family` ("": the family with most widths): {width,
  n, student_mean, teacher, gap, low, high, large}, accuracies and gaps in
  points, widths ascending."""
  labels = [
    r
    for r in rows
    if r.get("task") == "main"
    and r.get("mode") == "none"
    and not r.get("diverged")
    and r.get("test_accuracy") is not None
  ]
  if not family and labels:
    widths: dict[str, set] = {}
    for r in labels:
      widths.setdefault(r["student_family"], set()).add(r["student_width"])
    family = max(widths, key=lambda f: len(widths[f]))
  by_width: dict[int, list[float]] = {}
  for r in labels:
    if r.get("student_family") == family:
      by_width.setdefault(int(r["student_width"]), []).append(
        100.0 * float(r["test_accuracy"])
      )
  teacher = 100.0 * float(teacher_accuracy)
  out = []
  for width in sorted(by_width):
    accs = by_width[width]
    mean = sum(accs) / len(accs)
    if len(accs) >= 2:
      _, low, high = stats.t_interval(accs)
      gap_low, gap_high = teacher - high, teacher - low
    else:
      gap_low = gap_high = float("nan")
    out.append(
      {
        "width": width,
        "n": len(accs),
        "student_mean": mean,
        "teacher": teacher,
        "gap": teacher - mean,
        "low": gap_low,
        "high": gap_high,
        "large": len(accs) >= 2 and gap_low >= LARGE_GAP,
      }
    )
  return out


def gap_table(gaps: list[dict]) -> str:
  """Markdown table of `capacity_gaps` rows."""
  head = (
    "| width | labels-only seeds | student mean (%) | teacher (%) | "
    "gap (points) [95% CI] | gap ≥ "
    f"{LARGE_GAP:g} points |\n|---|---|---|---|---|---|"
  )
  lines = [head]
  for g in gaps:
    ci = (
      f"[{g['low']:+.2f}, {g['high']:+.2f}]"
      if g["n"] >= 2
      else "(one seed: no interval)"
    )
    lines.append(
      f"| {g['width']} | {g['n']} | {g['student_mean']:.2f} | "
      f"{g['teacher']:.2f} | {g['gap']:+.2f} {ci} | "
      f"{'yes' if g['large'] else 'no'} |"
    )
  return "\n".join(lines)
