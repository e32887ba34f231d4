"""Students per hour, end to end: one run per seed (today's path) vs the seed grid.

  python experiments/bench_students.py                        # quick regime, all cells
  python experiments/bench_students.py --teacher_workdir=runs/quick/teacher \
      --widths=2 --modes=offline,online --seeds=6               # the quick main job's cell
  python experiments/bench_students.py --widths=2 --modes=labels --seeds=2 \
      --epochs=2                                                # a smoke run (about a minute)

Each cell (CNN width w in --widths, teaching mode in --modes: labels, offline
τ=4, online τ=4) trains --seeds students of the quick reproduction's regime
(`kd_ntk/configs/reproduce.py:quick`: 4,096 images, 10 epochs, the quick
teacher; --epochs and --eval_every override it) through the reproduction's own
entry point, `kd_ntk.analysis.student_runs.run_grid`, twice:

  single: `one_process=False`, every seed its own run (its own data splits,
          teacher targets and compilations), as the reproduction ran before;
  grid:   one `kd_ntk.distill.seed_grid.Shared` for the cell's seeds.

Both paths run in this one process, in alternating order from cell to cell, so
background load hits both alike; each writes into a fresh folder. The time of
a path covers everything run_grid does for the cell (runs, checkpoints,
result rows with the margin loss). Students per hour = seeds / seconds × 3600.

One JSON line per (cell, path) with the breakdown of its seconds:
  setup            config checks, data, teacher binding, model and step objects
  init             the initial state (runner: Recorder.start)
  training         the epochs' steps (data order, augmentation, transfers)
  evaluation       student logits on the evaluation sets and their metrics
  teacher_targets  teacher checkpoints restored and their evaluation-set logits
  writes           metrics rows, event files and checkpoints (Recorder.record,
                   .claim, .close)
  result_rows      the margin loss of the final student (run_grid)
  compilation      XLA compilations (JAX's backend_compile events), taken out
                   of whichever part triggered them
  other            the rest (the runner's model description, progress lines)
then one "ratio" line per cell (grid students/hour over single), and a
"summary" line over all cells. Each line carries the load average, the
hypervisor's steal share and the CPU model (bench_machine.machine_fields).
"""

import json
import os
import shutil
import tempfile
import time

import jax
from absl import app, flags, logging

import bench_machine
from kd_ntk.analysis import records, student_runs
from kd_ntk.analysis.layout import Layout
from kd_ntk.configs import reproduce
from kd_ntk.distill import loop as distill_loop
from kd_ntk.distill import seed_grid
from kd_ntk.train import loop as train_loop
from kd_ntk.train import recorder

_TEACHER = flags.DEFINE_string(
  "teacher_workdir",
  "",
  "A finished run of the quick reproduction's teacher ('' = train one first).",
)
_WIDTHS = flags.DEFINE_list("widths", ["2", "4", "8"], "CNN student widths.")
_MODES = flags.DEFINE_list(
  "modes", ["labels", "offline", "online"], "labels, offline, online (τ=4)."
)
_SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds per cell.")
_EPOCHS = flags.DEFINE_integer("epochs", 0, "Student epochs (0: the regime's).")
_EVAL_EVERY = flags.DEFINE_integer(
  "eval_every", 1, "Evaluation cadence of both paths (1: every epoch)."
)
_PATHS = flags.DEFINE_list("paths", ["single", "grid"], "Paths to time.")

METHODS = {
  "labels": records.TeachingMethod("labels", "none"),
  "offline": records.TeachingMethod("offline τ=4", "offline", 4.0),
  "online": records.TeachingMethod("online τ=4", "online", 4.0),
}
PARTS = (
  "setup",
  "init",
  "training",
  "evaluation",
  "teacher_targets",
  "writes",
  "result_rows",
  "compilation",
)


class Instrumented:
  """Routes every run's timer to one `seed_grid.Timer` and times the runner's
  writes, the initial state, the margin loss and XLA compilations into it."""

  def __init__(self):
    self.timer = seed_grid.Timer()
    self.compiles = 0
    timer = self.timer
    original_shared = seed_grid.Shared

    class TimedShared(original_shared):
      def __init__(self):
        super().__init__()
        self.timer = timer

    # Every Shared made from here on (one per run on the single path, one per
    # cell on the grid path) books its parts into this timer.
    distill_loop.Shared = TimedShared
    student_runs.Shared = TimedShared
    for name, part in (
      ("record", "writes"),
      ("claim", "writes"),
      ("close", "writes"),
      ("start", "init"),
    ):
      setattr(
        recorder.Recorder,
        name,
        self._wrap(getattr(recorder.Recorder, name), part),
      )
    student_runs.margin_loss = self._wrap(
      student_runs.margin_loss, "result_rows"
    )

    def on_event(event, seconds, **kwargs):
      del kwargs
      if event == "/jax/core/compile/backend_compile_duration":
        self.compiles += 1
        timer.moved("compilation", seconds)

    jax.monitoring.register_event_duration_secs_listener(on_event)

  def _wrap(self, fn, part):
    timer = self.timer

    def timed(*args, **kwargs):
      with timer(part):
        return fn(*args, **kwargs)

    return timed


def _regime():
  config = reproduce.get_config("quick")
  if _EPOCHS.value:
    config.students_run.epochs = _EPOCHS.value
  if _EVAL_EVERY.value != 1:
    config.students_run.eval_every = _EVAL_EVERY.value
  return config


def _time_path(path, cell, config, teacher_dir, meter):
  """Runs the cell's seeds on one path; returns its JSON record."""
  width, mode = cell
  student = records.Student(f"cnn-w{width}", "cnn", width)
  root = tempfile.mkdtemp(prefix=f"bench_students_{path}_")
  try:
    os.symlink(os.path.abspath(teacher_dir), os.path.join(root, "teacher"))
    seeds = list(range(_SEEDS.value))
    before, compiles = dict(meter.timer.seconds), meter.compiles
    steal = bench_machine.StealMeter().start()
    start = time.perf_counter()
    rows = student_runs.run_grid(
      "main",
      Layout(root),
      config.students_run,
      config.teacher,
      [student],
      [METHODS[mode]],
      seeds,
      config.claims.gamma,
      student_runs.Progress(len(seeds)),
      one_process=path == "grid",
    )
    seconds = time.perf_counter() - start
  finally:
    shutil.rmtree(root, ignore_errors=True)
  parts = {
    k: round(meter.timer.seconds[k] - before.get(k, 0.0), 3) for k in PARTS
  }
  parts["other"] = round(seconds - sum(parts.values()), 3)
  return dict(
    what="students_per_hour",
    path=path,
    width=width,
    mode=mode,
    seeds=len(seeds),
    epochs=int(config.students_run.epochs),
    eval_every=_EVAL_EVERY.value,
    seconds=round(seconds, 3),
    seconds_per_student=round(seconds / len(seeds), 3),
    students_per_hour=round(len(seeds) / seconds * 3600, 1),
    breakdown=parts,
    compilations=meter.compiles - compiles,
    test_accuracy=[r.get("test_accuracy") for r in rows],
    load_avg_1min=round(os.getloadavg()[0], 2),
    steal=steal.fraction(),
    **bench_machine.machine_fields(),
  )


def _bench(teacher_dir: str) -> None:
  config = _regime()
  meter = Instrumented()
  cells = [(int(w), m) for w in _WIDTHS.value for m in _MODES.value]
  totals = {p: [0.0, 0] for p in _PATHS.value}
  for index, cell in enumerate(cells):
    order = _PATHS.value if index % 2 == 0 else _PATHS.value[::-1]
    lines = {}
    for path in order:
      lines[path] = _time_path(path, cell, config, teacher_dir, meter)
      totals[path][0] += lines[path]["seconds"]
      totals[path][1] += lines[path]["seeds"]
      print(json.dumps(lines[path]), flush=True)
    if {"single", "grid"} <= set(lines):
      print(
        json.dumps(
          dict(
            what="ratio",
            width=cell[0],
            mode=cell[1],
            grid_over_single=round(
              lines["grid"]["students_per_hour"]
              / lines["single"]["students_per_hour"],
              3,
            ),
            same_accuracy=lines["grid"]["test_accuracy"]
            == lines["single"]["test_accuracy"],
          )
        ),
        flush=True,
      )
  per_hour = {p: n / s * 3600 for p, (s, n) in totals.items() if s}
  summary = dict(
    what="summary",
    cells=len(cells),
    students_per_hour={p: round(v, 1) for p, v in per_hour.items()},
    load_avg_1min=round(os.getloadavg()[0], 2),
  )
  if {"single", "grid"} <= set(per_hour):
    summary["grid_over_single"] = round(
      per_hour["grid"] / per_hour["single"], 3
    )
  print(json.dumps(summary), flush=True)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  unknown = set(_MODES.value) - set(METHODS)
  if unknown or _SEEDS.value < 1 or _EVAL_EVERY.value < 1:
    raise app.UsageError(
      f"--modes must be among {sorted(METHODS)} (got {sorted(unknown)}), "
      "--seeds and --eval_every >= 1."
    )
  if _TEACHER.value:
    _bench(_TEACHER.value)
    return
  with tempfile.TemporaryDirectory(prefix="bench_teacher_") as teacher_dir:
    train_loop.run(_regime().teacher, teacher_dir)
    _bench(teacher_dir)


if __name__ == "__main__":
  app.run(main)
