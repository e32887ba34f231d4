"""Trains a student by distillation from a teacher run (checkpoint every epoch).

  python experiments/train_teacher.py --config=kd_ntk/configs/teacher.py:quick \
      --workdir=runs/teacher_quick
  python experiments/distill.py \
      --config=kd_ntk/configs/distill.py:quick,online \
      --workdir=runs/student_online_quick

Modes and fields: see kd_ntk/configs/distill.py. Rerunning the same command
resumes; a finished run is not trained again; a diverged run exits with an
error.
"""

from absl import flags
from ml_collections import config_flags

from kd_ntk import cli, distributed
from kd_ntk.distill import loop

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Config file (path.py:arg)."
)
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "Student run directory (created or resumed)."
)
_TEACHER = flags.DEFINE_string(
  "teacher_workdir",
  None,
  "Teacher run directory (overrides distill.teacher_workdir).",
)
_DATA_DIR = flags.DEFINE_string(
  "data_dir", None, "IDX folder or TFDS data_dir (overrides config.data_dir)."
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  # Multi-process runs: see kd_ntk/distributed.py.
  distributed.initialize_from_flags()
  config = _CONFIG.value
  if _DATA_DIR.value:
    config.data_dir = _DATA_DIR.value
  if _TEACHER.value:
    config.distill.teacher_workdir = _TEACHER.value
  rows = cli.run_or_exit(loop.run, config, _WORKDIR.value)
  last = rows[-1]
  fidelity = last.get("test_fidelity_current")
  print(
    f"final epoch {last['epoch']}: test accuracy {100 * last['test_accuracy']:.2f}%"
    + (f", test fidelity {100 * fidelity:.2f}%" if fidelity is not None else "")
  )


if __name__ == "__main__":
  cli.launch(main)
