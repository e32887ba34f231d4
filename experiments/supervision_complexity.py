"""Supervision complexity of labels, random labels and teacher checkpoints under
a student's NTK; writes complexity.csv, plots and the verdicts of claims C1–C4.

  python experiments/supervision_complexity.py \
      --config=kd_ntk/configs/complexity.py:quick,teacher_workdir=runs/teacher_quick \
      --workdir=runs/complexity_quick
"""

import json
import os

from absl import flags
from ml_collections import config_flags

from kd_ntk.analysis import claims, supervision_run
from kd_ntk import cli, distributed
from kd_ntk.reports import plots

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (path.py:arg).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  distributed.initialize_from_flags()  # Multi-process runs: see kd_ntk/distributed.py.
  workdir = _WORKDIR.value
  rows = cli.run_or_exit(supervision_run.run, _CONFIG.value, workdir)
  plots.asc_vs_teacher_epoch(rows, os.path.join(workdir, "asc_vs_teacher_epoch.png"))
  if len({r["student_epoch"] for r in rows}) > 1:
    plots.asc_vs_student_epoch(rows, os.path.join(workdir, "asc_vs_student_epoch.png"))
  verdicts = claims.complexity_verdicts(rows)
  if distributed.is_writer():  # Process 0 writes (multi-process runs).
    with open(os.path.join(workdir, "verdicts.json"), "w") as fh:
      json.dump(verdicts, fh, indent=2)
  for v in verdicts:
    print(claims.format_verdict(v))


if __name__ == "__main__":
  cli.launch(main)
