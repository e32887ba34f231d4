"""report.md and its figures for a reproduction workdir (no JAX).

The report opens with one table of verdicts (claim, what was compared, estimate
and 95% interval, outcome), then the regime and why it was chosen, each claim
with the rule that decides it, and descriptive tables (mean ± std over seeds,
never used in a verdict).
"""

import json
import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from kd_ntk import distributed
from kd_ntk.science import capacity, stats
from kd_ntk.grid.layout import Layout
from kd_ntk.grid.records import Student, TeachingMethod
from kd_ntk.reports import plots, tables


class ReportPlan(Protocol):
  """What the report reads of the reproduction's plan
  (`kd_ntk.experiment.reproduction_plan.Plan` is one): the records of what
  ran and the settings the regime section states."""

  students: Sequence[Student]
  methods: Sequence[TeachingMethod]
  kernel_student: Student
  seeds: Sequence[int]
  binary_seeds: Sequence[int]
  teacher: Any
  binary_teacher: Any
  students_run: Any
  early: Any
  kernels: Any
  claims: Any


STATS_TEXT = (
  "Every comparison is paired: by seed for student runs (same seed, same "
  "initialisation and data order in both arms) and by NTK subset for supervision "
  "complexity. The estimate is the mean paired difference d̄ with the 95% Student-t "
  "interval d̄ ± t₀.₉₇₅,ₙ₋₁·s/√n (s the sample std of the differences). Outcome: "
  "**supported** when the interval lies above 0 in the direction the paper predicts, "
  "**contradicted** when it lies below 0, **no detectable difference** when it "
  "contains 0, **not testable in this regime** when there are fewer than 2 pairs or "
  "the regime cannot show the effect. Raw means are never compared. The "
  "detectable effect is the true difference the two-sided paired t-test at "
  "α = 0.05 detects with 80% power at the observed paired SD s and n pairs "
  "(exact noncentral t; ≈ (t₀.₉₇₅,ₙ₋₁ + t₀.₈,ₙ₋₁)·s/√n): a **no detectable "
  "difference** rules out only the differences outside its interval, and the "
  "run could only be expected to find effects at least that large."
)


def _cell(c: dict, scale: float) -> str:
  return stats.Comparison(**c).interval_text(
    scale=scale, digits=2 if scale > 1 else 3
  )


def _scale(claim: str) -> float:
  return 100.0 if claim.startswith(("C5", "C6", "C7", "C8")) else 1.0


def verdict_table(verdicts: list[dict]) -> str:
  """One row per comparison; the claim's verdict on its first row.

  Beside each interval: the minimum detectable effect (80% power, two-sided
  α = 0.05, paired t at the observed paired SD; `kd_ntk.science.power`), and
  for "no detectable difference" what the interval rules out.
  """
  body = []
  for v in verdicts:
    for i, c in enumerate(v["comparisons"]):
      scale = _scale(v["claim"])
      unit = "points" if scale > 1 else "ASC"
      comp = stats.Comparison(**c)
      outcome = c["outcome"] + (f": {c['reason']}" if c.get("reason") else "")
      ruled = comp.rules_out_text(scale, 2 if scale > 1 else 3, unit)
      body.append(
        [
          v["claim"] if i == 0 else "",
          c["what"] + f" ({unit})",
          _cell(c, scale) + f" (n={c['n']})",
          comp.mde_text(scale, 2 if scale > 1 else 3),
          outcome + (f" — {ruled}" if ruled else ""),
          f"**{v['outcome']}**" if i == 0 else "",
        ]
      )
  return tables.markdown_table(
    [
      "claim",
      "what was compared",
      "estimate [95% interval]",
      "detectable effect (80% power)",
      "outcome",
      "verdict",
    ],
    body,
  )


def _kernel_width(plan: ReportPlan) -> str:
  width = plan.kernels.block.get("student_width", 0)
  return f"width {width}" if width else "the smallest width"


def _schedule_text(run) -> str:
  """ "constant", "step", or "cosine to 0.05×" (after a constant half)."""
  floor, start = run.get("lr_floor", 0.0), run.get("decay_start", 0.0)
  if run.schedule != "cosine" or not (floor or start):
    return run.schedule
  return f"cosine to {floor:g}×" + (
    f" after a constant {start:.0%} of training" if start else ""
  )


def regime_text(plan: ReportPlan) -> list[str]:
  t, s = plan.teacher, plan.students_run
  c, early = plan.kernels.block, plan.early
  students = plan.students
  return [
    f"- Data: `{t.dataset}`, class-balanced training subset of {t.train_subset} images; "
    f"random crop with {t.augment.pad}-pixel padding"
    + (
      ", horizontal flips"
      if t.augment.flip
      else ", no flips (images are centred and in one orientation)"
    )
    + (
      f"; validation: {early.validation_size} class-balanced training "
      "images outside the subset."
      if early
      else "."
    ),
    f"- Teacher `{t.model}` {dict(t.model_kwargs)}, {t.epochs} epochs, "
    f"{t.optimizer.schedule} schedule, lr {t.optimizer.learning_rate}.",
    f"- Students: {', '.join(f'{x.family} width {x.width}' for x in students)}; "
    f"{s.epochs} epochs, {_schedule_text(s)} learning rate {s.learning_rate} "
    f"(lr_scale={s.lr_scale}); seeds {tuple(plan.seeds)}.",
    *(
      [
        f"- Early-stopped teacher: candidates {tuple(early.candidates)}, "
        f"chosen by {early.criterion} on the validation split."
      ]
      if early
      else []
    ),
    f"- Supervision complexity: {c.num_subsets} NTK subsets of "
    f"n={c.num_examples}, temperatures "
    f"{tuple(c.temperatures)}; NTK of the "
    f"{plan.claims.family} student of {_kernel_width(plan)} "
    + (
      "along its labels-trained seed-0 run's epochs."
      if c.trajectory
      else "at initialisation only."
    ),
    f"- Two-class task: classes {tuple(plan.binary_teacher.classes)}, "
    f"{plan.binary_teacher.train_subset} training images, seeds {tuple(plan.binary_seeds)}.",
  ]


def _by(rows, task, key):
  """student name -> method name -> finished per-seed values of `key`."""
  out: dict[str, dict[str, list[float]]] = {}
  for r in rows:
    if r["task"] == task and not r.get("diverged"):
      out.setdefault(r["student"], {}).setdefault(r["method"], []).append(
        r.get(key)
      )
  return out


def average_rows(rows: list[dict]) -> list[dict]:
  """Complexity rows averaged over subsets and draws (for figures, tables)."""
  groups: dict[tuple, list[dict]] = {}
  for r in rows:
    key = (
      r["student_epoch"],
      r["target"],
      r.get("teacher_epoch"),
      r.get("temperature"),
    )
    groups.setdefault(key, []).append(r)
  out = []
  for (se, target, te, tau), group in groups.items():
    asc = np.array([g["asc"] for g in group], float)
    out.append(
      {
        "student_epoch": se,
        "target": target,
        "teacher_epoch": te,
        "temperature": tau,
        "asc": float(asc.mean()),
        "asc_std": float(asc.std()),
        "sc": float(np.mean([g["sc"] for g in group])),
        "n": group[0]["n"],
        "condition_number": float(
          np.max([g["condition_number"] for g in group])
        ),
        "ridge_dominated": any(g.get("ridge_dominated") for g in group),
      }
    )
  return out


# The starts of the names `figures` writes (one per student, then the ASC
# plots); only files named so are ever removed from figures/.
ACCURACY_FIGURE = "test_accuracy_"
ASC_FIGURE = "asc_vs_"
FIGURE_PREFIXES = (ACCURACY_FIGURE, ASC_FIGURE)


def figures(layout: Layout, cx_rows: list[dict], plan: ReportPlan) -> list[str]:
  made = []
  for student in plan.students:
    runs = {
      m.name: [
        tables.read_jsonl(
          os.path.join(
            layout.student_run("main", student, m, s), "metrics.jsonl"
          )
        )
        for s in plan.seeds
      ]
      for m in plan.methods
    }
    made.append(
      plots.metric_vs_epoch(
        runs,
        "test_accuracy",
        layout.figure(f"{ACCURACY_FIGURE}{student.slug}.png"),
        title=f"{student.name} (mean ± std over seeds)",
      )
    )
  if cx_rows:
    # Per-subset rows: the figures draw the mean and its interval over subsets.
    kernel = cx_rows[0].get("kernel") or "empirical"
    title = plots.complexity_title(plan.kernel_student.name, kernel, cx_rows)
    made.append(
      plots.asc_vs_teacher_epoch(
        cx_rows, layout.figure(f"{ASC_FIGURE}teacher_epoch.png"), title=title
      )
    )
    if len({r["student_epoch"] for r in cx_rows}) > 1:
      made.append(
        plots.asc_vs_student_epoch(
          cx_rows, layout.figure(f"{ASC_FIGURE}student_epoch.png"), title=title
        )
      )
  return made


def drop_stale_figures(folder: str, made: Sequence[str]) -> list[str]:
  """Removes the figures an earlier invocation wrote that this one did not
  (e.g. a student no longer in the plan); returns their paths. Files of
  other names are left alone."""
  keep = {os.path.abspath(p) for p in made}
  stale = [
    os.path.join(folder, name)
    for name in sorted(os.listdir(folder) if os.path.isdir(folder) else ())
    if name.endswith(".png")
    and name.startswith(FIGURE_PREFIXES)
    and os.path.abspath(os.path.join(folder, name)) not in keep
  ]
  for path in stale:
    os.remove(path)
  return stale


def write_report(summary: dict, layout: Layout, plan: ReportPlan) -> str:
  """Writes report.md (and figures) in the layout's root; returns its path.

  `plan`: what the reproduction ran and its settings, as its plan holds
  them (the report never reads the config itself)."""
  rows, verdicts = summary["rows"], summary["verdicts"]
  counts = {o: sum(v["outcome"] == o for v in verdicts) for o in stats.OUTCOMES}
  made = figures(layout, summary["complexity_rows"], plan)
  if distributed.is_writer():  # Process 0 alone, as it draws them.
    for path in drop_stale_figures(layout.figures, made):
      print(f"[report] removed {path}: not a figure of this plan")
  teacher = summary["teacher_rows"][-1]
  lines = [
    "# kd_ntk reproduction report",
    "",
    "## Verdicts",
    "",
    verdict_table(verdicts),
    "",
    "Counts: " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ".",
    "",
    STATS_TEXT,
    "",
    "## Regime (chosen before looking at outcomes)",
    "",
    *regime_text(plan),
    "",
    f"Teacher test accuracy (final epoch, reported once): "
    f"{100 * teacher['test_accuracy']:.2f}%; two-class teacher: "
    f"{100 * summary['binary_teacher_rows'][-1]['test_accuracy']:.2f}%. "
    + (
      f"Wall time of the last invocation: {summary['seconds'] / 60:.1f} min "
      "(finished runs are reused, not retrained)."
      if summary.get("seconds") is not None
      else ""
    ),
    "",
    *(
      [f"Provenance: {summary['provenance']}", ""]
      if summary.get("provenance")
      else []
    ),
  ]
  early = summary.get("early_selection")
  if early:
    scores = ", ".join(
      f"epoch {e}: loss {s['loss']:.4f}, acc {100 * s['accuracy']:.2f}%"
      for e, s in early["scores"].items()
    )
    lines += [
      f"Early-stopped teacher: epoch {early['epoch']} of {early['final_epoch']} "
      f"(lowest {early['criterion']} on {early['validation_size']} validation "
      f"images; {scores}).",
      "",
    ]
  family = plan.claims.family or ""
  gaps = capacity.capacity_gaps(rows, teacher["test_accuracy"], family)
  if gaps:
    large = sum(g["large"] for g in gaps)
    lines += [
      "## Capacity gap (teacher − labels-only student)",
      "",
      f"Family `{family}`, main task (`kd_ntk.science.capacity`): a large gap "
      f"at {large} of {len(gaps)} width(s); the accuracy claims concern "
      "students well below their teacher.",
      "",
      capacity.gap_table(gaps),
      "",
    ]
  plan = tables.power_table(verdicts)
  if plan:
    lines += [
      "## Power of the accuracy comparisons, and the seeds a rerun needs",
      "",
      "Paired SD, 95% half-width and 80%-power detectable effect in points, "
      "and the fewest paired seeds whose half-width would be <= 0.5 points "
      "and whose detectable effect would be <= 1 point at this SD "
      "(`kd_ntk.science.power`; the SD of a few seeds is itself uncertain).",
      "",
      plan,
      "",
    ]
  lines += ["## Claims, rules and details", ""]
  for v in verdicts:
    lines += [
      f"### {v['claim']}: {v['outcome']}",
      "",
      f"Prediction: {v['prediction']}.",
      "",
      f"Rule: {v['rule']}",
      "",
    ]
    if v["note"]:
      lines += [f"Note: {v['note']}", ""]
    if v["numbers"]:
      lines += [
        f"Numbers (descriptive): `{json.dumps(v['numbers'], default=str)}`",
        "",
      ]
  for task, title in (
    ("main", "Test accuracy (%)"),
    ("binary", "Two-class test accuracy (%)"),
  ):
    per = _by(rows, task, "test_accuracy")
    if per:
      names = list(dict.fromkeys(m for p in per.values() for m in p))
      lines += [
        f"## {title}, mean ± std over seeds (descriptive)",
        "",
        tables.results_table(per, names),
        "",
      ]
  diverged = [
    f"{r['task']}/{r['student']}/{r['method']}/seed{r['seed']}"
    for r in rows
    if r.get("diverged")
  ]
  if diverged:
    lines += [
      "Diverged runs (dropped from both arms of their pairs, not counted as "
      f"chance-level results): {', '.join(diverged)}.",
      "",
    ]
  if summary["complexity_rows"]:
    avg = average_rows(summary["complexity_rows"])
    first = min(r["student_epoch"] for r in avg)
    lines += [
      f"## Supervision complexity (student epoch {first:g}, mean over subsets)",
      "",
      tables.complexity_table(avg, first),
      "",
    ]
  lines += ["## Figures", ""] + [
    f"![{os.path.basename(p)}](figures/{os.path.basename(p)})" for p in made
  ]
  if distributed.is_writer():  # Multi-process runs: process 0 writes.
    with open(layout.report, "w") as fh:
      fh.write("\n".join(lines) + "\n")
  return layout.report
