"""The capacity gap of a reproduction regime: its teacher against students of
several widths trained on labels alone.

Trains (or reuses) the reproduction config's teacher, then labels-only
students of the claims' family at each --widths and --seeds, in the config's
own student regime (epochs, learning rate, schedule), on the reproduction's
student grid (`kd_ntk.experiment.student_runs`: one process, shared data and
compiled steps). Prints one JSON line per student and the table of
`kd_ntk.science.capacity` (teacher − mean student accuracy per width, with a
t interval over seeds), and writes it to <workdir>/capacity_gap.md. Widths
outside the config's students are allowed: the gap says which widths a
reproduction should compare.

  python experiments/capacity_gap.py --config=kd_ntk/configs/reproduce.py \\
      --workdir=runs/capacity --widths=1,2,4,8 --seeds=0,1,2,3
"""

import json
import os

from absl import flags
from ml_collections import config_flags

from kd_ntk import cli
from kd_ntk.experiment import student_runs
from kd_ntk.grid import records
from kd_ntk.grid.layout import Layout
from kd_ntk.science import capacity
from kd_ntk.train import loop as train_loop

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "reproduce.py config."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (resumed).")
_WIDTHS = flags.DEFINE_list("widths", ["1", "2", "4", "8"], "Student widths.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3"], "Student seeds.")
flags.mark_flags_as_required(["config", "workdir"])


def measure(config, workdir: str, widths, seeds) -> str:
  """Trains what is missing; returns the Markdown table."""
  if len(seeds) < 2 or not widths:
    raise ValueError(
      f"--seeds needs >= 2 seeds and --widths one or more; got {seeds}, "
      f"{widths}."
    )
  family = config.claims.family or "cnn"
  layout = Layout(workdir)
  teacher_rows = train_loop.run(config.teacher, layout.teacher())
  labels = records.TeachingMethod("labels", "none")
  grid = [
    student_runs.GridRun(
      "main",
      config.teacher,
      records.Student(f"{family}-w{w}", family, w),
      labels,
      seed,
    )
    for w in widths
    for seed in seeds
  ]
  settings = student_runs.GridSettings(
    layout=layout,
    students_run=config.students_run,
    gamma=config.claims.gamma,
  )
  rows = student_runs.run_grid(grid, settings, student_runs.Progress(len(grid)))
  for r in rows:
    line = {k: r.get(k) for k in ("student_width", "seed", "test_accuracy")}
    print(json.dumps(line), flush=True)
  gaps = capacity.capacity_gaps(rows, teacher_rows[-1]["test_accuracy"], family)
  table = capacity.gap_table(gaps)
  with open(os.path.join(workdir, "capacity_gap.md"), "w") as fh:
    fh.write(
      f"# Capacity gap\n\nTeacher `{config.teacher.model}` "
      f"({config.teacher.epochs} epochs, {config.teacher.train_subset} "
      f"images); labels-only students, schedule "
      f"`{config.students_run.schedule}`, {config.students_run.epochs} "
      f"epochs, seeds {list(seeds)}.\n\n{table}\n"
    )
  return table


def main(argv):
  del argv
  widths = [int(w) for w in _WIDTHS.value]
  seeds = [int(s) for s in _SEEDS.value]
  print(cli.run_or_exit(measure, _CONFIG.value, _WORKDIR.value, widths, seeds))


if __name__ == "__main__":
  cli.launch(main)
