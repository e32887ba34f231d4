"""`run(config, workdir)`: the paper's experiment end to end, and its report.

Teacher on labels → early-stopped teacher chosen on the validation split →
students (typed records) × methods × seeds → the two-class task → supervision
complexity over several NTK subsets → verdicts with paired intervals →
results.json (every per-seed number), verdicts.json, report.md and figures.
Paths: `kd_ntk.grid.layout`. The student grid can be spread over processes
(`part`, below). Every run resumes (finished runs are skipped),
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
from kd_ntk.experiment.reproduction_plan import Part, Plan, plan_of
from kd_ntk.experiment.student_runs import GridSettings
from kd_ntk.grid import records
from kd_ntk.grid.layout import Layout
from kd_ntk.science import claims, kd_claims
from kd_ntk.train import checkpoint
from kd_ntk.train import loop as train_loop


def c3_regime_reason(config) -> str:
  """Why C3 cannot be tested in this regime ("" when it can)."""
  if not config.complexity.trajectory:
    return "the student's NTK is taken at initialisation only (complexity.trajectory=False)"
  schedule = config.students_run.schedule
  if schedule == "cosine" and not config.students_run.get("lr_floor", 0.0):
    return (
      "a cosine schedule decays the learning rate to 0 and freezes the kernel"
    )
  if schedule not in ("constant", "cosine"):
    return (
      f"the students' learning rate decays ({schedule}), which nearly "
      "freezes the kernel late in training; C3 has its own run "
      "(kd_ntk/configs/reproduce.py:c3)"
    )
  if config.students_run.epochs < 3:
    return f"{config.students_run.epochs} student epochs: no room for a drop and a rise"
  return ""


def complexity_rows(
  config, layout: Layout, student: records.Student
) -> list[dict]:
  """The complexity rows of every NTK subset (`complexity_runs`)."""
  c = config.complexity
  teacher_epochs = complexity_runs.strided(
    config.teacher.epochs, c.teacher_epoch_stride
  )
  student_dir, student_epochs = "", (0,)
  if c.trajectory:
    labels = records.TeachingMethod("labels", "none")
    student_dir = layout.student_run("main", student, labels, config.seeds[0])
    student_epochs = complexity_runs.strided(
      config.students_run.epochs, c.student_epoch_stride
    )
  return complexity_runs.run_subsets(
    c,
    teacher_dir=layout.teacher(),
    student_dir=student_dir,
    student_model=student.model(),
    student_epochs=student_epochs,
    teacher_epochs=teacher_epochs,
    out_dir=layout.complexity,
  )


def _early_selection(config, layout: Layout, plan: Plan) -> dict | None:
  if not plan.has_early:
    return None
  early = teacher_selection.select(
    layout.teacher(),
    config.early.candidates,
    config.early.criterion,
    validation_size=config.validation_size,
    validation_seed=config.validation_seed,
    cache_path=layout.teacher_selection(),
  )
  print(
    f"[reproduce] early-stopped teacher: epoch {early['epoch']} (validation "
    f"{config.early.criterion})",
    flush=True,
  )
  return early


def _check_teachers_finished(config, layout: Layout) -> None:
  for task in ("main", "binary"):
    saved = checkpoint.saved_epochs(layout.teacher(task))
    if not saved or max(saved) < config.teacher.epochs:
      raise ValueError(
        f"The {task} teacher in {layout.teacher(task)} has not finished "
        f"(saved epochs {saved[-1:] or 'none'} of {config.teacher.epochs}): "
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
  plan = plan_of(config)
  # The one validation pass: every config this invocation will run.
  preflight.check_reproduce_config(
    config, workdir, plan.student_configs(config)
  )
  layout = Layout(workdir)
  start = time.time()
  grid = plan.grid(config)
  if part.kind == "students":
    _check_teachers_finished(config, layout)
    early = _early_selection(config, layout, plan)
    settings = _settings(config, layout, early)
    student_runs.run_slice(settings, grid, part.share)
    return {"part": part, "seconds": time.time() - start}
  binary_teacher = grid[-1].teacher
  teacher_rows = train_loop.run(config.teacher, layout.teacher(), checked=True)
  binary_teacher_rows = train_loop.run(
    binary_teacher, layout.teacher("binary"), checked=True
  )
  early = _early_selection(config, layout, plan)
  if part.kind == "teachers":
    return {"part": part, "seconds": time.time() - start}
  settings = _settings(config, layout, early)
  rows = student_runs.run_grid(grid, settings, student_runs.Progress(len(grid)))
  cx_rows = complexity_rows(config, layout, plan.kernel_student)
  summary = summarise(
    config,
    plan,
    rows=rows,
    cx_rows=cx_rows,
    teacher_rows=teacher_rows,
    binary_teacher_rows=binary_teacher_rows,
    early=early,
  )
  summary["seconds"] = time.time() - start
  return write(summary, config, layout, plan if figures else None)


def _settings(config, layout: Layout, early: dict | None) -> GridSettings:
  return GridSettings(
    layout=layout,
    students_run=config.students_run,
    gamma=config.claims.gamma,
    early_epoch=early["epoch"] if early else None,
  )


def summarise(
  config,
  plan: Plan,
  *,
  rows: list[dict],
  cx_rows: list[dict],
  teacher_rows: list[dict],
  binary_teacher_rows: list[dict],
  early: dict | None,
) -> dict:
  """The verdicts of result and complexity rows, in the results.json form."""
  smallest = plan.analysis_student
  c3_reason = c3_regime_reason(config)
  verdicts = claims.complexity_verdicts(
    cx_rows,
    c3_regime_reason=c3_reason,
    c3_window=tuple(config.complexity.get("c3_window", ())),
  )
  others = [m.fields() for m in plan.binary_methods if m.mode != "none"]
  verdicts += kd_claims.kd_verdicts(
    rows,
    smallest.family,
    alpha=config.claims.alpha,
    binary_primary=config.binary.primary.to_dict(),
    binary_others=[
      {k: f[k] for k in ("mode", "temperature", "alpha")} for f in others
    ],
    early_selected=early["epoch"] if early else None,
    teacher_final_epoch=config.teacher.epochs,
    gamma=config.claims.gamma,
    lr_scale=config.students_run.lr_scale,
  )
  return {
    "rows": rows,
    "complexity_rows": cx_rows,
    "verdicts": verdicts,
    "teacher_rows": teacher_rows,
    "binary_teacher_rows": binary_teacher_rows,
    "early_selection": early,
    "seconds": None,
    "config": json.loads(config.to_json_best_effort()),
  }


def write(
  summary: dict, config, layout: Layout, plan: Plan | None = None
) -> dict:
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

    summary["report"] = report.write_report(summary, config, layout, plan)
  return summary
