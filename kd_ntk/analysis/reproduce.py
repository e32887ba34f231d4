"""`run(config, workdir)`: the paper's experiment end to end.

  workdir/teacher                      teacher on labels, every epoch kept
  workdir/students/<student>/<method>/seed<k>   one distillation run each
  workdir/binary/...                   the same on a two-class task (claim C8)
  workdir/complexity                   complexity.csv, ASC plots (claims C1–C4)
  workdir/report.md, results.json, verdicts.json, *.png

Every run resumes (finished runs are skipped), so an interrupted reproduction
continues where it stopped. A diverged student run is recorded as diverged,
never as a chance-level accuracy.
"""

import json
import os
import time
from typing import Dict, List

import ml_collections

from kd_ntk import distributed
from kd_ntk.analysis import claims, kd_claims, supervision_run
from kd_ntk.configs import complexity as complexity_config
from kd_ntk.configs import validation
from kd_ntk.configs import distill as distill_config
from kd_ntk.distill import loop as distill_loop
from kd_ntk.train import loop as train_loop
from kd_ntk.train import workdir as wd

# Fields a student copies from its teacher's config, so both see the same data.
DATA_FIELDS = ("dataset", "data_dir", "data_source", "train_subset", "subset_seed",
               "test_subset", "classes", "batch_size", "eval_batch_size")


def student_config(config, teacher_cfg, teacher_dir: str, student: str, method_arg: str,
                   seed: int) -> ml_collections.ConfigDict:
  """The distill.py config of one (student, method, seed) run."""
  c = distill_config.get_config(method_arg)
  for key in DATA_FIELDS:
    c[key] = teacher_cfg[key]
  c.augment = ml_collections.ConfigDict(teacher_cfg.augment.to_dict())
  c.model, c.seed, c.epochs = student, seed, config.student_epochs
  c.optimizer.learning_rate = config.student_learning_rate
  c.train_eval_size = config.train_eval_size
  c.distill.teacher_workdir = os.path.abspath(teacher_dir)
  c.distill.alpha = config.alpha
  c.distill.lr_scale = config.lr_scale
  c.distill.early_epoch = config.early_epoch
  return c


class Runner:
  """Runs (or resumes) the student grid with progress, collecting final rows."""

  def __init__(self, total: int):
    self.total, self.done, self.start = total, 0, time.time()

  def student(self, cfg, workdir: str, label: str) -> Dict:
    self.done += 1
    elapsed = time.time() - self.start
    eta = elapsed / max(self.done - 1, 1) * (self.total - self.done + 1) if self.done > 1 else 0
    print(f"[reproduce] run {self.done}/{self.total} {label} (elapsed {elapsed:.0f}s, "
          f"eta {eta:.0f}s)", flush=True)
    try:
      rows = distill_loop.run(cfg, workdir)
    except FloatingPointError as err:
      print(f"[reproduce] {label} DIVERGED: {err}", flush=True)
      return {"diverged": True, "error": str(err)}
    return rows[-1]


def student_grid(config, teacher_cfg, teacher_dir, root, students, methods, seeds,
                 runner: Runner) -> Dict[str, Dict[str, List[Dict]]]:
  """results[student][method] = list over seeds of the final metrics row."""
  results: Dict[str, Dict[str, List[Dict]]] = {}
  for student in students:
    for method in methods:
      for seed in seeds:
        cfg = student_config(config, teacher_cfg, teacher_dir, student,
                             config.methods[method], seed)
        row = runner.student(cfg, os.path.join(root, student, method, f"seed{seed}"),
                             f"{student}/{method}/seed{seed}")
        results.setdefault(student, {}).setdefault(method, []).append(row)
  return results


def _strided(last: int, stride: int) -> tuple:
  return tuple(sorted(set(range(0, last + 1, max(stride, 1))) | {last}))


def complexity_analysis(config, teacher_dir: str, student_dir: str, out_dir: str):
  """complexity.csv for the teacher trajectory under the student's NTK trajectory."""
  c = complexity_config.get_config("")
  c.teacher_workdir, c.student_workdir = os.path.abspath(teacher_dir), student_dir
  c.teacher_epochs = _strided(config.teacher.epochs, config.complexity.teacher_epoch_stride)
  c.student_epochs = _strided(config.student_epochs, config.complexity.student_epoch_stride)
  c.num_examples = config.complexity.num_examples
  c.temperatures = tuple(config.complexity.temperatures)
  c.eval_batch_size = min(512, config.teacher.eval_batch_size)
  csv_path = os.path.join(out_dir, supervision_run.CSV_FILE)
  if wd.claim(out_dir, c, write=distributed.is_writer()) and os.path.exists(csv_path):
    print(f"[reproduce] reusing {csv_path}", flush=True)
    return supervision_run.read_csv(csv_path)
  supervision_run.run(c, out_dir)
  return supervision_run.read_csv(csv_path)  # Same parsed types as a reused file.


def run(config: ml_collections.ConfigDict, workdir: str) -> Dict:
  """Teacher, student grid, binary task, complexity analysis and report.

  Returns:
    {"results", "binary_results", "complexity_rows", "verdicts", "teacher_rows"}.
  """
  unknown = set(config.binary.methods) - set(config.methods)
  if unknown:
    raise ValueError(f"binary.methods {sorted(unknown)} are not in config.methods.")
  validation.check_reproduce_config(config, workdir, student_config)  # Before writing.
  os.makedirs(workdir, exist_ok=True)
  start = time.time()
  teacher_dir = os.path.join(workdir, "teacher")
  teacher_rows = train_loop.run(config.teacher, teacher_dir)
  students, methods = list(config.students), list(config.methods)
  binary_teacher = ml_collections.ConfigDict(config.teacher.to_dict())
  binary_teacher.classes = tuple(config.binary.classes)
  runner = Runner(len(students) * len(methods) * len(config.seeds)
                  + len(config.binary.methods) * len(config.binary.seeds))
  results = student_grid(config, config.teacher, teacher_dir,
                         os.path.join(workdir, "students"), students, methods,
                         config.seeds, runner)
  binary_dir = os.path.join(workdir, "binary")
  binary_teacher_rows = train_loop.run(binary_teacher, os.path.join(binary_dir, "teacher"))
  binary_results = student_grid(config, binary_teacher, os.path.join(binary_dir, "teacher"),
                                os.path.join(binary_dir, "students"), students[:1],
                                list(config.binary.methods), config.binary.seeds, runner)
  analysis_student = os.path.join(workdir, "students", students[-1], "no_kd",
                                  f"seed{config.seeds[0]}")
  complexity_rows = complexity_analysis(config, teacher_dir, analysis_student,
                                        os.path.join(workdir, "complexity"))
  verdicts = claims.complexity_verdicts(complexity_rows) + kd_claims.kd_verdicts(
      results, binary_results, students, students[0], list(config.binary.methods)[1:])
  summary = {"results": results, "binary_results": binary_results,
             "complexity_rows": complexity_rows, "verdicts": verdicts,
             "teacher_rows": teacher_rows, "binary_teacher_rows": binary_teacher_rows,
             "seconds": time.time() - start}
  if distributed.is_writer():  # Multi-process runs: process 0 writes.
    with open(os.path.join(workdir, "results.json"), "w") as fh:
      json.dump(summary, fh, indent=1, default=str)
    with open(os.path.join(workdir, "verdicts.json"), "w") as fh:
      json.dump(verdicts, fh, indent=2)
  return summary
