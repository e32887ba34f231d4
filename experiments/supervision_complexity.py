"""Supervision complexity of labels, random labels and teacher checkpoints under
one or more student kernels. Writes into --workdir: config.json (a rerun with
another config is refused), complexity.csv, asc_vs_teacher_epoch.png,
verdicts.json (claims C1–C4, C2n, C4n), report.md (listing every file), and
bound.csv / asc_vs_student_epoch.png for student runs, kernel_agreement.json/.md
for several kernels. The student may be your own flax module:
student_model='my_models:MyNet' (see kd_ntk/configs/complexity.py).

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
from kd_ntk.experiment import supervision_run
from kd_ntk.science import claims

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Config file (path.py:arg)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  # Multi-process runs: see kd_ntk/distributed.py.
  distributed.initialize_from_flags()
  workdir = _WORKDIR.value
  rows = cli.run_or_exit(supervision_run.run, _CONFIG.value, workdir)
  verdicts = supervision_run.write_outputs(rows, workdir)
  for v in verdicts:
    print(claims.format_verdict(v))


if __name__ == "__main__":
  cli.launch(main)
