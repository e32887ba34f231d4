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
import re
import time
from typing import Dict, List, Optional, Tuple

import ml_collections

from kd_ntk import distributed
from kd_ntk.experiment import complexity_runs, student_runs
from kd_ntk.grid import records
from kd_ntk.science import claims, kd_claims
from kd_ntk.science import teacher_selection
from kd_ntk.grid.layout import Layout
from kd_ntk.grid.records import analysis_student, kernel_student
from kd_ntk.configs import validation
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


def validate(config) -> Dict:
  """Records and selections checked before any training; returns the records."""
  methods = records.methods_from_config(config.methods)
  binary_methods = records.methods_from_config(config.binary.methods)
  students = records.students_from_config(config.students)
  if not config.teacher.train_subset:
    raise ValueError(
      "teacher.train_subset must be > 0: the validation split is drawn "
      "from the training images outside that subset, which the training "
      "loops then never see (e.g. 50000 of 60000)."
    )
  if any(m.mode == "early" for m in methods):
    teacher_selection.check_candidates(
      config.early.candidates, config.teacher.epochs, config.early.criterion
    )
  if config.complexity.trajectory and not any(
    m.mode == "none" for m in methods
  ):
    raise ValueError(
      "complexity.trajectory needs a labels method (mode 'none'): its "
      "seed-0 run of the kernel student (complexity.student_width) provides "
      "the kernels of C3."
    )
  kernel_student(students, config)  # Raises on a width the family lacks.
  if not any(m.mode == "none" for m in binary_methods):
    raise ValueError(
      "binary.methods needs a labels method (mode 'none') for claim C8."
    )
  primary = config.binary.primary.to_dict()
  if not any(records.matches(m.fields(), **primary) for m in binary_methods):
    raise ValueError(
      f"binary.primary {primary} matches none of binary.methods."
    )
  return {
    "methods": methods,
    "binary_methods": binary_methods,
    "students": students,
  }


def student_configs(config, recs: Dict) -> List:
  """(label, config) of both teachers and of every student x method the grid
  will run, for validation before anything is written (the early checkpoint is
  a placeholder: validation chooses it later)."""
  placeholder = max(config.early.candidates) if config.get("early") else 1
  seed = config.seeds[0] if config.seeds else 0
  binary = binary_teacher_config(config)
  tasks = [("", config.teacher, recs["methods"])]
  tasks.append(("two-class task, ", binary, recs["binary_methods"]))
  return [("two-class teacher", binary)] + [
    (
      f"{task}student {s.name}, method {m.name}",
      student_runs.student_config(
        config.students_run,
        teacher,
        "teacher",
        s,
        m,
        seed,
        early_epoch=placeholder,
      ),
    )
    for task, teacher, methods in tasks
    for s in recs["students"]
    for m in methods
  ]


def _grid(config, recs: Dict, binary_teacher, smallest) -> List[Tuple]:
  """(task, teacher config, student, method, seed) of every student run."""
  return [
    ("main", config.teacher, s, m, seed)
    for s in recs["students"]
    for m in recs["methods"]
    for seed in config.seeds
  ] + [
    ("binary", binary_teacher, smallest, m, seed)
    for m in recs["binary_methods"]
    for seed in config.binary.seeds
  ]


def complexity_rows(
  config, layout: Layout, student: records.Student
) -> List[Dict]:
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
    layout.teacher(),
    student_dir,
    student.model(),
    student_epochs,
    teacher_epochs,
    layout.complexity,
  )


PARTS = "'all', 'teachers' or 'students:I/K' (0 <= I < K)"


def parse_part(part: str) -> Tuple[str, Optional[Tuple[int, int]]]:
  """("all" | "teachers" | "students", (I, K) for a slice of the student grid)."""
  if part in ("all", "teachers"):
    return part, None
  match = re.fullmatch(r"students:(\d+)/(\d+)", part)
  if not match or not 0 <= int(match[1]) < int(match[2]):
    raise ValueError(
      f"part must be {PARTS}; got {part!r}. Run the teachers first, then the "
      "K slices (in parallel if you like), then 'all' for the analysis."
    )
  return "students", (int(match[1]), int(match[2]))


def binary_teacher_config(config) -> ml_collections.ConfigDict:
  """The two-class task's teacher: the main teacher on `binary.classes`."""
  binary = ml_collections.ConfigDict(config.teacher.to_dict())
  binary.classes = tuple(config.binary.classes)
  binary.train_subset = config.binary.train_subset
  binary.test_subset = 0  # Every test image of the two classes (2,000 here).
  return binary


def _early_selection(config, layout: Layout, recs: Dict) -> Optional[Dict]:
  if not any(m.mode == "early" for m in recs["methods"]):
    return None
  early = teacher_selection.select(
    layout.teacher(),
    config.early.candidates,
    config.early.criterion,
    config.validation_size,
    config.validation_seed,
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
  part: str = "all",
) -> Dict:
  """Runs (or resumes) the whole reproduction in `workdir` and writes its report.

  Args:
    part: "all" (default) runs whatever is missing, then the analysis and the
      report. To spread the student grid over processes or machines sharing
      `workdir`: "teachers" first (both teachers and the early-stopped teacher's
      selection), then "students:I/K" for I = 0..K-1 (the grid's runs
      I, I+K, I+2K, ..., which may run at the same time), then "all".

  Returns:
    The summary also written to results.json: {"rows" (per-seed result rows),
    "complexity_rows", "verdicts", "teacher_rows", "binary_teacher_rows",
    "early_selection", "seconds", "config"}; for the other parts {"part"}.
  """
  kind, share = parse_part(part)
  recs = validate(config)
  validation.check_reproduce_config(
    config, workdir, student_configs(config, recs)
  )
  layout = Layout(workdir)
  start = time.time()
  binary_teacher = binary_teacher_config(config)
  smallest = analysis_student(recs["students"], config)
  if kind == "students":
    _check_teachers_finished(config, layout)
    early = _early_selection(config, layout, recs)
    student_runs.run_slice(
      layout,
      config.students_run,
      _grid(config, recs, binary_teacher, smallest),
      early["epoch"] if early else None,
      share,
    )
    return {"part": part, "seconds": time.time() - start}
  teacher_rows = train_loop.run(config.teacher, layout.teacher())
  binary_teacher_rows = train_loop.run(binary_teacher, layout.teacher("binary"))
  early = _early_selection(config, layout, recs)
  if kind == "teachers":
    return {"part": part, "seconds": time.time() - start}
  progress = student_runs.Progress(
    len(recs["students"]) * len(recs["methods"]) * len(config.seeds)
    + len(recs["binary_methods"]) * len(config.binary.seeds)
  )
  rows = student_runs.run_grid(
    "main",
    layout,
    config.students_run,
    config.teacher,
    recs["students"],
    recs["methods"],
    config.seeds,
    config.claims.gamma,
    progress,
    early["epoch"] if early else None,
  )
  rows += student_runs.run_grid(
    "binary",
    layout,
    config.students_run,
    binary_teacher,
    [smallest],
    recs["binary_methods"],
    config.binary.seeds,
    config.claims.gamma,
    progress,
  )
  summary = summarise(
    config,
    rows,
    complexity_rows(config, layout, kernel_student(recs["students"], config)),
    teacher_rows,
    binary_teacher_rows,
    early,
  )
  summary["seconds"] = time.time() - start
  return write(summary, config, layout, figures)


def summarise(
  config,
  rows: List[Dict],
  cx_rows: List[Dict],
  teacher_rows: List[Dict],
  binary_teacher_rows: List[Dict],
  early: Optional[Dict],
) -> Dict:
  """The verdicts of result rows and complexity rows, in the results.json form."""
  recs = validate(config)
  smallest = analysis_student(recs["students"], config)
  verdicts = claims.complexity_verdicts(
    cx_rows,
    c3_regime_reason=c3_regime_reason(config),
    c3_window=tuple(config.complexity.get("c3_window", ())),
  )
  others = [m.fields() for m in recs["binary_methods"] if m.mode != "none"]
  verdicts += kd_claims.kd_verdicts(
    rows,
    smallest.family,
    config.claims.alpha,
    config.binary.primary.to_dict(),
    [{k: f[k] for k in ("mode", "temperature", "alpha")} for f in others],
    early["epoch"] if early else None,
    config.teacher.epochs,
    config.claims.gamma,
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


def write(summary: Dict, config, layout: Layout, figures: bool = True) -> Dict:
  """Writes results.json, verdicts.json and (with `figures`) report.md."""
  if distributed.is_writer():  # Multi-process runs: process 0 writes.
    with open(layout.results, "w") as fh:
      json.dump(summary, fh, indent=1, default=str)
    with open(layout.verdicts, "w") as fh:
      json.dump(summary["verdicts"], fh, indent=1, default=str)
  if figures:
    from kd_ntk.reports import (
      report,
    )  # Matplotlib only when a report is written.

    summary["report"] = report.write_report(summary, config, layout)
  return summary
