"""Where a reproduction's runs, results and figures live: the one owner of
paths.

  <root>/teacher                   teacher on labels, every epoch kept
  <root>/students/<student slug>/<method slug>/seed<k>
                                   one distillation run each
  <root>/binary/teacher, <root>/binary/students/...
                                   the two-class task (claim C8)
  <root>/complexity                complexity.csv (claims C1–C4)
  <root>/teacher_selection.json    validation scores of the early-stopped
                                   teacher's candidates
  <root>/results.json, verdicts.json, report.md, figures/*.png

Slugs come from record fields (`Student.slug`, `TeachingMethod.slug`), never
from display names, so renaming a method reuses its finished runs.
"""

import dataclasses
import os

from kd_ntk.grid.records import Student, TeachingMethod

TASKS = ("main", "binary")


@dataclasses.dataclass(frozen=True)
class Layout:
  """Paths under one reproduction workdir `root`."""

  root: str

  def _task_root(self, task: str) -> str:
    if task not in TASKS:
      raise ValueError(f"task must be one of {TASKS}; got {task!r}.")
    return self.root if task == "main" else os.path.join(self.root, "binary")

  def teacher(self, task: str = "main") -> str:
    return os.path.join(self._task_root(task), "teacher")

  def student_run(
    self, task: str, student: Student, method: TeachingMethod, seed: int
  ) -> str:
    return os.path.join(
      self._task_root(task),
      "students",
      student.slug,
      method.slug,
      f"seed{int(seed)}",
    )

  def teacher_selection(self, task: str = "main") -> str:
    return os.path.join(self._task_root(task), "teacher_selection.json")

  @property
  def complexity(self) -> str:
    return os.path.join(self.root, "complexity")

  @property
  def results(self) -> str:
    return os.path.join(self.root, "results.json")

  @property
  def verdicts(self) -> str:
    return os.path.join(self.root, "verdicts.json")

  @property
  def report(self) -> str:
    return os.path.join(self.root, "report.md")

  @property
  def figures(self) -> str:
    return os.path.join(self.root, "figures")

  def figure(self, name: str) -> str:
    """Path of figure `name` (a file name ending in .png); makes the folder."""
    os.makedirs(self.figures, exist_ok=True)
    return os.path.join(self.figures, name)
