"""Students per hour, end to end: one run per seed (the old path) vs the grid.

  # The quick regime, all cells:
  python experiments/benchmarks/bench_students.py
  # The quick main job's cell:
  python experiments/benchmarks/bench_students.py \
      --teacher_workdir=runs/quick/teacher \
      --widths=2 --modes=offline,online --seeds=6
  # A smoke run (about a minute):
  python experiments/benchmarks/bench_students.py --widths=2 --modes=labels \
      --seeds=2 --epochs=2

Each cell (CNN width w in --widths, teaching mode in --modes: labels, offline
τ=4, online τ=4) trains --seeds students of the quick reproduction's regime
(`kd_ntk/configs/reproduce.py:quick`: 4,096 images, 10 epochs, the quick
teacher; --epochs overrides it, --eval_every sets the grid paths' cadence
and --single_eval_every the single path's) through the reproduction's own
entry point, `kd_ntk.experiment.student_runs.run_grid`, twice:

  single: `one_process=False`, every seed its own run (its own data splits,
          teacher targets and compilations), as the reproduction ran before;
  grid:   one `kd_ntk.distill.seed_grid.Shared` for the cell's seeds.

  gridK:  K worker processes at once (e.g. grid2), each a grid of every K-th
          seed, as `reproduce --part=students:I/K` would run them; only wall
          and CPU time are measured (no breakdown).

The paths run in this one process, in rotating order from cell to cell, so
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
then one "ratio" line per cell (grid students/hour over single, by wall time
and by this process's CPU time, steadier on a shared machine; whether the
result rows of both paths are equal), and a "summary" line over all cells.
Each line carries the load average, the hypervisor's steal share and the CPU
model (bench_machine.machine_fields).
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import bench_machine
import jax
from absl import app, flags, logging

from kd_ntk.configs import reproduce
from kd_ntk.distill import loop as distill_loop
from kd_ntk.distill import seed_grid
from kd_ntk.experiment import student_runs
from kd_ntk.grid import records
from kd_ntk.grid.layout import Layout
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
  "eval_every", 1, "Evaluation cadence of the grid paths (1: every epoch)."
)
_SINGLE_EVAL_EVERY = flags.DEFINE_integer(
  "single_eval_every",
  1,
  "Evaluation cadence of the single path (1: every epoch, today's).",
)
_PATHS = flags.DEFINE_list(
  "paths",
  ["single", "grid"],
  "Paths to time: single, grid, gridK (K processes, each a grid of every "
  "K-th seed).",
)
_WARMUP = flags.DEFINE_bool(
  "warmup",
  True,
  "First train one untimed 1-epoch student of the first cell (single path): "
  "the process's one-off costs (JAX's eager primitives, the data decode) are "
  "then paid by neither path, as a reproduction pays them once.",
)
_WORKER = flags.DEFINE_string(
  "worker_root", "", "Internal: run --worker_seeds as a gridK worker here."
)
_WORKER_SEEDS = flags.DEFINE_list("worker_seeds", [], "Internal (gridK).")

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


def _regime(eval_every: int = 1):
  """The quick reproduction's config, with --epochs and the cadence applied."""
  config = reproduce.get_config("quick")
  if _EPOCHS.value:
    config.students_run.epochs = _EPOCHS.value
  if eval_every != 1:
    config.students_run.eval_every = eval_every
  return config


def _cell_grid(root, cell, config, seeds, *, one_process):
  """The reproduction's run_grid for one cell's seeds under `root`."""
  width, mode = cell
  student = records.Student(f"cnn-w{width}", "cnn", width)
  grid = [
    student_runs.GridRun("main", config.teacher, student, METHODS[mode], seed)
    for seed in seeds
  ]
  settings = student_runs.GridSettings(
    layout=Layout(root),
    students_run=config.students_run,
    gamma=config.claims.gamma,
  )
  return student_runs.run_grid(
    grid, settings, student_runs.Progress(len(seeds)), one_process=one_process
  )


def _in_processes(k, root, cell, seeds):
  """Runs `seeds` in k worker processes (seeds i, i+k, ...); their rows in
  seed order, and the CPU seconds of the workers."""
  flags_ = [
    f"--widths={cell[0]}",
    f"--modes={cell[1]}",
    f"--epochs={_EPOCHS.value}",
    f"--eval_every={_EVAL_EVERY.value}",
    f"--worker_root={root}",
  ]
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  procs = [
    subprocess.Popen(
      [sys.executable, os.path.abspath(__file__), *flags_]
      + ["--worker_seeds=" + ",".join(str(s) for s in seeds[i::k])],
      stdout=subprocess.PIPE,
      stderr=subprocess.DEVNULL,
      text=True,
    )
    for i in range(k)
  ]
  by_seed = {}
  for proc in procs:
    out, _ = proc.communicate()
    if proc.returncode:
      raise RuntimeError(f"A grid worker failed (exit {proc.returncode}).")
    by_seed.update(json.loads(out.strip().splitlines()[-1]))
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
  return [by_seed[str(s)] for s in seeds], cpu


def _time_path(path, cell, config, teacher_dir, *, meter):
  """Runs the cell's seeds on one path; returns (result rows, JSON record)."""
  width, mode = cell
  root = tempfile.mkdtemp(prefix=f"bench_students_{path}_")
  try:
    os.symlink(os.path.abspath(teacher_dir), os.path.join(root, "teacher"))
    seeds = list(range(_SEEDS.value))
    before, compiles = dict(meter.timer.seconds), meter.compiles
    steal = bench_machine.StealMeter().start()
    cpu_start = time.process_time()
    start = time.perf_counter()
    if path in ("single", "grid"):
      rows = _cell_grid(root, cell, config, seeds, one_process=path == "grid")
      children = 0.0
    else:
      rows, children = _in_processes(int(path[4:]), root, cell, seeds)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start + children
  finally:
    shutil.rmtree(root, ignore_errors=True)
  parts = {
    k: round(meter.timer.seconds[k] - before.get(k, 0.0), 3) for k in PARTS
  }
  parts["other"] = round(seconds - sum(parts.values()), 3)
  if path not in ("single", "grid"):
    parts = None  # The workers' time is not broken down.
  return rows, dict(
    what="students_per_hour",
    path=path,
    width=width,
    mode=mode,
    seeds=len(seeds),
    epochs=int(config.students_run.epochs),
    eval_every=config.students_run.get("eval_every", 1),
    seconds=round(seconds, 3),
    seconds_per_student=round(seconds / len(seeds), 3),
    students_per_hour=round(len(seeds) / seconds * 3600, 1),
    cpu_seconds=round(cpu_seconds, 3),
    students_per_cpu_hour=round(len(seeds) / cpu_seconds * 3600, 1),
    breakdown=parts,
    compilations=meter.compiles - compiles,
    test_accuracy=[r.get("test_accuracy") for r in rows],
    load_avg_1min=round(os.getloadavg()[0], 2),
    steal=steal.fraction(),
    **bench_machine.machine_fields(),
  )


def _ratios(lines, rows) -> dict:
  """Each path's students per hour over the single path's (wall and CPU)."""
  out = {}
  for path in lines:
    if path != "single" and "single" in lines:
      for suffix, field in (
        ("", "students_per_hour"),
        ("_cpu", "students_per_cpu_hour"),
      ):
        out[f"{path}_over_single{suffix}"] = round(
          lines[path][field] / lines["single"][field], 3
        )
      out[f"{path}_same_result_rows"] = rows[path] == rows["single"]
  return out


def _bench(teacher_dir: str) -> None:
  configs = {
    p: _regime(_SINGLE_EVAL_EVERY.value if p == "single" else _EVAL_EVERY.value)
    for p in _PATHS.value
  }
  meter = Instrumented()
  cells = [(int(w), m) for w in _WIDTHS.value for m in _MODES.value]
  if _WARMUP.value:
    warm = _regime()
    warm.students_run.epochs = 1
    root = tempfile.mkdtemp(prefix="bench_students_warmup_")
    try:
      os.symlink(os.path.abspath(teacher_dir), os.path.join(root, "teacher"))
      _cell_grid(root, cells[0], warm, [0], one_process=False)
    finally:
      shutil.rmtree(root, ignore_errors=True)
  paths = list(_PATHS.value)
  totals = {p: {"seconds": 0.0, "seeds": 0, "cpu_seconds": 0.0} for p in paths}
  for index, cell in enumerate(cells):
    shift = index % len(paths)  # Rotates which path goes first.
    lines, rows = {}, {}
    for path in paths[shift:] + paths[:shift]:
      rows[path], lines[path] = _time_path(
        path, cell, configs[path], teacher_dir, meter=meter
      )
      for k in totals[path]:
        totals[path][k] += lines[path][k]
      print(json.dumps(lines[path]), flush=True)
    print(
      json.dumps(
        dict(what="ratio", width=cell[0], mode=cell[1], **_ratios(lines, rows))
      ),
      flush=True,
    )
  summary = {
    p: {
      "students_per_hour": round(t["seeds"] / t["seconds"] * 3600, 1),
      "students_per_cpu_hour": round(t["seeds"] / t["cpu_seconds"] * 3600, 1),
    }
    for p, t in totals.items()
  }
  ratios = _ratios(summary, {p: None for p in summary})
  print(
    json.dumps(
      dict(
        what="summary",
        cells=len(cells),
        paths=summary,
        **{k: v for k, v in ratios.items() if "same" not in k},
        load_avg_1min=round(os.getloadavg()[0], 2),
      )
    ),
    flush=True,
  )


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if _WORKER.value:  # One process of a gridK path: its rows, by seed.
    seeds = [int(s) for s in _WORKER_SEEDS.value]
    cell = (int(_WIDTHS.value[0]), _MODES.value[0])
    rows = _cell_grid(
      _WORKER.value,
      cell,
      _regime(_EVAL_EVERY.value),
      seeds,
      one_process=True,
    )
    print(json.dumps({str(s): r for s, r in zip(seeds, rows)}), flush=True)
    return
  unknown = set(_MODES.value) - set(METHODS)
  if (
    unknown
    or _SEEDS.value < 1
    or min(_EVAL_EVERY.value, _SINGLE_EVAL_EVERY.value) < 1
  ):
    raise app.UsageError(
      f"--modes must be among {sorted(METHODS)} (got {sorted(unknown)}), "
      "--seeds, --eval_every and --single_eval_every >= 1."
    )
  if _TEACHER.value:
    _bench(_TEACHER.value)
    return
  with tempfile.TemporaryDirectory(prefix="bench_teacher_") as teacher_dir:
    train_loop.run(_regime().teacher, teacher_dir)
    _bench(teacher_dir)


if __name__ == "__main__":
  app.run(main)
