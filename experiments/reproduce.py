"""The paper's experiment end to end: teacher, students x methods x seeds,
binary task, supervision-complexity analysis, report.md with paired-interval
verdicts.

  python experiments/reproduce.py \
      --config=kd_ntk/configs/reproduce.py:quick --workdir=runs/quick

Rerunning the same command resumes: finished runs are skipped. To spread the
student grid over K processes sharing the workdir (one GPU, several
machines):

  python experiments/reproduce.py ... --part=teachers
  # I = 0..K-1, all at once:
  python experiments/reproduce.py ... --part=students:I/K
  # Then the analysis and the report:
  python experiments/reproduce.py ...
"""

import re

from absl import flags
from ml_collections import config_flags

from kd_ntk import cli, distributed
from kd_ntk.experiment import reproduce
from kd_ntk.experiment.reproduction_plan import Part
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


def part_from_flag(value: str) -> Part:
  """The --part flag as a record: all | teachers | students:I/K."""
  if value in ("all", "teachers"):
    return Part(value)
  match = re.fullmatch(r"students:(\d+)/(\d+)", value)
  if not match:
    raise ValueError(
      f"--part must be 'all', 'teachers' or 'students:I/K' (0 <= I < K); "
      f"got {value!r}."
    )
  return Part("students", (int(match[1]), int(match[2])))


def main(argv):
  del argv
  # Multi-process runs: see kd_ntk/distributed.py.
  distributed.initialize_from_flags()
  summary = cli.run_or_exit(
    lambda config, workdir: reproduce.run(
      config, workdir, part=part_from_flag(_PART.value)
    ),
    _CONFIG.value,
    _WORKDIR.value,
  )
  if _PART.value != "all":
    print(f"[reproduce] part {_PART.value} done in {summary['seconds']:.0f}s")
    return
  for v in summary["verdicts"]:
    print(format_verdict(v))
  print(f"report: {summary['report']}")


if __name__ == "__main__":
  cli.launch(main)
