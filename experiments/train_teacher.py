"""Trains a teacher on labels, keeping a checkpoint for every epoch (0 = init).

  python experiments/train_teacher.py --config=kd_ntk/configs/teacher.py:quick \
      --workdir=runs/teacher_quick

Rerunning the same command resumes; a finished run is not trained again.
"""

from absl import flags
from ml_collections import config_flags

from kd_ntk import cli, distributed
from kd_ntk.train import loop

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Config file (path.py:arg)."
)
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "Run directory (created or resumed)."
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
  rows = cli.run_or_exit(loop.run, config, _WORKDIR.value)
  last = rows[-1]
  print(
    f"final epoch {last['epoch']}: test accuracy {100 * last['test_accuracy']:.2f}%"
  )


if __name__ == "__main__":
  cli.launch(main)
