"""`run(config, workdir)`: the paper's experiment end to end, and its report.

Teacher on labels → early-stopped teacher chosen on the validation split →
students (typed records) × methods × seeds → the two-class task → supervision
complexity over several NTK subsets → verdicts with paired intervals →
results.json (every per-seed number), verdicts.json, report.md and figures.
The config is read once, into a `reproduction_plan.Plan`; every step below
reads the plan. Paths: `kd_ntk.grid.layout`. The student grid can be spread
over processes (`part`, below). Every run resumes (finished runs are skipped),
so an interrupted reproduction continues where it stopped; a diverged student
run is recorded as diverged, never as a chance-level accuracy.
"""

import json
import time

import ml_collections

from kd_ntk import distributed
from kd_ntk.experiment import (
  complexity_runs,
  preflight,
  student_runs,
  teacher_selection,
)
from kd_ntk.experiment.reproduction_plan import KernelRuns, Part, Plan, plan_of
from kd_ntk.experiment.student_runs import GridSettings
from kd_ntk.grid import records
from kd_ntk.grid.layout import Layout
from kd_ntk.science import claims, kd_claims
from kd_ntk.train import checkpoint
from kd_ntk.train import loop as train_loop


def complexity_rows(
  kernels: KernelRuns, layout: Layout, student: records.Student
) -> list[dict]:
  """The complexity rows of every NTK subset (`complexity_runs`)."""
  student_dir = ""
  if kernels.trajectory_seed is not None:
    labels = records.TeachingMethod("labels", "none")
    student_dir = layout.student_run(
      "main", student, labels, kernels.trajectory_seed
    )
  return complexity_runs.run_subsets(
    kernels.block,
    teacher_dir=layout.teacher(),
    student_dir=student_dir,
    student_model=student.model(),
    student_epochs=kernels.student_epochs,
    teacher_epochs=kernels.teacher_epochs,
    out_dir=layout.complexity,
  )


def _early_selection(plan: Plan, layout: Layout) -> dict | None:
  if not plan.has_early:
    return None
  early = plan.early
  selected = teacher_selection.select(
    layout.teacher(),
    early.candidates,
    early.criterion,
    validation_size=early.validation_size,
    validation_seed=early.validation_seed,
    cache_path=layout.teacher_selection(),
  )
  print(
    f"[reproduce] early-stopped teacher: epoch {selected['epoch']} "
    f"(validation {early.criterion})",
    flush=True,
  )
  return selected


def _check_teachers_finished(plan: Plan, layout: Layout) -> None:
  epochs = plan.teacher.epochs
  for task in ("main", "binary"):
    saved = checkpoint.saved_epochs(layout.teacher(task))
    if not saved or max(saved) < epochs:
      raise ValueError(
        f"The {task} teacher in {layout.teacher(task)} has not finished "
        f"(saved epochs {saved[-1:] or 'none'} of {epochs}): "
        "run this command with --part=teachers first."
      )


def run(
  config: ml_collections.ConfigDict,
  workdir: str,
  figures: bool = True,
  part: Part = Part(),
) -> dict:
  """Runs (or resumes) the whole reproduction in `workdir` and writes its
  report.

  Args:
    part: `Part()` (all, the default) runs whatever is missing, then the
      analysis and the report. To spread the student grid over processes or
      machines sharing `workdir`: `Part("teachers")` first (both teachers and
      the early-stopped teacher's selection), then `Part("students", (I, K))`
      for I = 0..K-1 (the grid's runs I, I+K, I+2K, ..., which may run at
      the same time), then `Part()`.

  Returns:
    The summary also written to results.json: {"rows" (per-seed result rows),
    "complexity_rows", "verdicts", "teacher_rows", "binary_teacher_rows",
    "early_selection", "seconds", "config"}; for the other parts {"part"}.
  """
  # The one reading of the config: its fields, records and choices checked.
  plan = plan_of(config)
  # The one validation pass of every run config before anything is written.
  preflight.check_reproduce_runs(plan, workdir)
  layout = Layout(workdir)
  start = time.time()
  grid = plan.grid()
  if part.kind == "students":
    _check_teachers_finished(plan, layout)
    early = _early_selection(plan, layout)
    settings = _settings(plan, layout, early)
    student_runs.run_slice(settings, grid, part.share)
    return {"part": part, "seconds": time.time() - start}
  teacher_rows = train_loop.run(plan.teacher, layout.teacher(), checked=True)
  binary_teacher_rows = train_loop.run(
    plan.binary_teacher, layout.teacher("binary"), checked=True
  )
  early = _early_selection(plan, layout)
  if part.kind == "teachers":
    return {"part": part, "seconds": time.time() - start}
  settings = _settings(plan, layout, early)
  rows = student_runs.run_grid(grid, settings, student_runs.Progress(len(grid)))
  cx_rows = complexity_rows(plan.kernels, layout, plan.kernel_student)
  summary = summarise(
    plan,
    rows=rows,
    cx_rows=cx_rows,
    teacher_rows=teacher_rows,
    binary_teacher_rows=binary_teacher_rows,
    early=early,
  )
  summary["seconds"] = time.time() - start
  return write(summary, layout, plan if figures else None)


def _settings(plan: Plan, layout: Layout, early: dict | None) -> GridSettings:
  return GridSettings(
    layout=layout,
    students_run=plan.students_run,
    gamma=plan.claims.gamma,
    early_epoch=early["epoch"] if early else None,
  )


def summarise(
  plan: Plan,
  *,
  rows: list[dict],
  cx_rows: list[dict],
  teacher_rows: list[dict],
  binary_teacher_rows: list[dict],
  early: dict | None,
) -> dict:
  """The verdicts of result and complexity rows, in the results.json form."""
  settings = plan.claims
  verdicts = claims.complexity_verdicts(
    cx_rows,
    c3_regime_reason=settings.c3_reason,
    c3_window=settings.c3_window,
  )
  others = [m.fields() for m in plan.binary_methods if m.mode != "none"]
  verdicts += kd_claims.kd_verdicts(
    rows,
    plan.analysis_student.family,
    alpha=settings.alpha,
    binary_primary=settings.binary_primary,
    binary_others=[
      {k: f[k] for k in ("mode", "temperature", "alpha")} for f in others
    ],
    early_selected=early["epoch"] if early else None,
    teacher_final_epoch=plan.teacher.epochs,
    gamma=settings.gamma,
    lr_scale=plan.students_run.lr_scale,
  )
  return {
    "rows": rows,
    "complexity_rows": cx_rows,
    "verdicts": verdicts,
    "teacher_rows": teacher_rows,
    "binary_teacher_rows": binary_teacher_rows,
    "early_selection": early,
    "seconds": None,
    "config": plan.config_values,
  }


def write(summary: dict, layout: Layout, plan: Plan | None = None) -> dict:
  """Writes results.json, verdicts.json and (given the `plan` whose grid
  ran) report.md with its figures."""
  if distributed.is_writer():  # Multi-process runs: process 0 writes.
    with open(layout.results, "w") as fh:
      json.dump(summary, fh, indent=1, default=str)
    with open(layout.verdicts, "w") as fh:
      json.dump(summary["verdicts"], fh, indent=1, default=str)
  if plan is not None:
    # Matplotlib only when a report is written.
    from kd_ntk.reports import report

    summary["report"] = report.write_report(summary, layout, plan)
  return summary
