"""CPU seconds per epoch of every kind of run in a reproduction config, and the
config's total time estimated from them (one JSON line per measurement).

  python experiments/benchmarks/bench_reproduce.py \
      --config=kd_ntk/configs/reproduce.py

For the teacher and for each student (online mode, the costliest: a new teacher
checkpoint is evaluated every epoch) it runs 1 and 3 epochs in fresh workdirs
of a temporary folder (removed at the end), after a discarded 1-epoch warm-up
run that pays the process's one-time costs, and measures process CPU time
(user + system, from getrusage), which a shared machine inflates far less than
wall time: per-epoch cost = (t3 − t1)/2, fixed cost per run (compilation,
epoch 0) = t1 − per-epoch; on configs as small as `tiny` the per-epoch cost is
within noise of 0 and may come out slightly negative. The estimate
multiplies these by the config's run and epoch counts and takes wall ≈ CPU time
(no credit for the second core), so on an idle 2-core machine it is an upper
estimate of the training part. The complexity analysis is not included; it is
measured by experiments/benchmarks/bench_complexity.py.
"""

import json
import resource
import tempfile

from absl import app, flags, logging
from ml_collections import config_flags

from kd_ntk.experiment import student_runs
from kd_ntk.grid import records
from kd_ntk.grid.layout import Layout
from kd_ntk.distill import loop as distill_loop
from kd_ntk.train import loop as train_loop

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Reproduce config (path.py:arg)."
)
flags.mark_flags_as_required(["config"])


def _cpu() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def _cost(run_fn, make_config, root: str, what: str):
  """CPU seconds per epoch and per run of one kind of run, from a 1-epoch and a
  3-epoch run after a discarded 1-epoch warm-up (which pays the process's
  one-time costs: without it the first run's share made the tiny config's
  per-epoch cost negative)."""
  run_fn(make_config(1), f"{root}/{what}_warm_up")
  times = {}
  for epochs in (1, 3):
    cfg = make_config(epochs)
    start = _cpu()
    run_fn(cfg, f"{root}/{what}_{epochs}")
    times[epochs] = _cpu() - start
  per_epoch = (times[3] - times[1]) / 2
  out = {
    "what": what,
    "cpu_seconds_per_epoch": round(per_epoch, 2),
    "fixed_cpu_seconds_per_run": round(times[1] - per_epoch, 2),
  }
  print(json.dumps(out), flush=True)
  return out


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  with tempfile.TemporaryDirectory(prefix="bench_reproduce_") as root:
    _estimate(_CONFIG.value, root)


def _estimate(config, root: str) -> None:
  """Measures every kind of run of `config` in `root`; prints the estimate."""
  layout = Layout(root)

  def teacher_cfg(epochs):
    c = config.teacher.copy_and_resolve_references()
    c.epochs = epochs
    return c

  teacher = _cost(train_loop.run, teacher_cfg, root, "teacher")
  # The students' teacher (3 epochs).
  train_loop.run(teacher_cfg(3), layout.teacher())
  online = records.TeachingMethod("online", "online", 4.0)
  total, n_methods, n_seeds = 0.0, len(config.methods), len(config.seeds)
  students = records.students_from_config(config.students)
  smallest = min(students, key=lambda s: s.width)
  for student in students:

    def student_cfg(epochs, student=student):
      run = config.students_run.copy_and_resolve_references()
      run.epochs = epochs
      t = teacher_cfg(3)
      return student_runs.student_config(
        run,
        t,
        teacher_dir=layout.teacher(),
        student=student,
        method=online,
        seed=0,
      )

    cost = _cost(distill_loop.run, student_cfg, root, f"student {student.slug}")
    run_seconds = (
      cost["fixed_cpu_seconds_per_run"]
      + cost["cpu_seconds_per_epoch"] * config.students_run.epochs
    )
    total += n_methods * n_seeds * run_seconds
    if (
      student == smallest
    ):  # The two-class task trains the smallest student, on fewer images.
      total += (
        len(config.binary.methods)
        * len(config.binary.seeds)
        * run_seconds
        * config.binary.train_subset
        / config.teacher.train_subset
      )
  total += (
    teacher["fixed_cpu_seconds_per_run"]
    + teacher["cpu_seconds_per_epoch"] * config.teacher.epochs
  )
  # The two-class teacher.
  total += (
    teacher["fixed_cpu_seconds_per_run"]
    + teacher["cpu_seconds_per_epoch"]
    * config.teacher.epochs
    * config.binary.train_subset
    / config.teacher.train_subset
  )
  print(
    json.dumps(
      {
        "what": "teachers + student grids + two-class task (upper estimate, "
        "without the complexity analysis)",
        "runs": len(students) * n_methods * n_seeds,
        "estimated_seconds": round(total),
      }
    ),
    flush=True,
  )


if __name__ == "__main__":
  app.run(main)
