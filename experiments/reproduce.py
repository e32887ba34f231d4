"""The paper's experiment end to end: teacher, students x methods x seeds, binary
task, supervision-complexity analysis, report.md with paired-interval verdicts.

  python experiments/reproduce.py --config=kd_ntk/configs/reproduce.py:quick --workdir=runs/quick

Rerunning the same command resumes: finished runs are skipped. To spread the
student grid over K processes sharing the workdir (one GPU, several machines):

  python experiments/reproduce.py ... --part=teachers
  python experiments/reproduce.py ... --part=students:I/K   # I = 0..K-1, at once
  python experiments/reproduce.py ...                       # analysis and report
"""

from absl import flags
from ml_collections import config_flags

from kd_ntk import cli, distributed
from kd_ntk.experiment import reproduce
from kd_ntk.science.verdicts import format_verdict

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Config file (path.py:arg)."
)
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "Output directory (created or resumed)."
)
_PART = flags.DEFINE_string(
  "part",
  "all",
  "all | teachers | students:I/K (the grid's runs I, I+K, ...; after teachers).",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  distributed.initialize_from_flags()  # Multi-process runs: see kd_ntk/distributed.py.
  summary = cli.run_or_exit(
    reproduce.run, _CONFIG.value, _WORKDIR.value, part=_PART.value
  )
  if _PART.value != "all":
    print(f"[reproduce] part {_PART.value} done in {summary['seconds']:.0f}s")
    return
  for v in summary["verdicts"]:
    print(format_verdict(v))
  print(f"report: {summary['report']}")


if __name__ == "__main__":
  cli.launch(main)
