"""Supervision complexity of labels, random labels and teacher checkpoints under
one or more student kernels; writes complexity.csv, plots and the verdicts of
claims C1–C4 (and, for several kernels, kernel_agreement.json/.md).

  python experiments/supervision_complexity.py \
      --config=kd_ntk/configs/complexity.py:quick,teacher_workdir=runs/teacher_quick \
      --workdir=runs/complexity_quick
  python experiments/supervision_complexity.py \
      --config="kd_ntk/configs/complexity.py:quick,teacher_workdir=runs/teacher_quick,student_model=mlp,kernel=(empirical,monte_carlo,infinite)" \
      --workdir=runs/complexity_kernels
"""

from absl import flags
from ml_collections import config_flags

from kd_ntk import cli, distributed
from kd_ntk.analysis import claims, supervision_run

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Config file (path.py:arg)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  distributed.initialize_from_flags()  # Multi-process runs: see kd_ntk/distributed.py.
  workdir = _WORKDIR.value
  rows = cli.run_or_exit(supervision_run.run, _CONFIG.value, workdir)
  verdicts = supervision_run.write_outputs(rows, workdir)
  for v in verdicts:
    print(claims.format_verdict(v))


if __name__ == "__main__":
  cli.launch(main)
