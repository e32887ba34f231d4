"""Which teacher checkpoint and temperature to distill from, for one student.

  python experiments/advise.py --teacher_workdir=runs/teacher_quick \
      --student=mlp16 --temperatures=1,2,4,8 --n=1024 --out=runs/advice_quick

Writes advice.csv (every pair's scores, ranked), advice.md and advice.png in
--out and prints the table. No student is trained; see kd_ntk/advisor/ for the
scores and kd_ntk/advisor/decision.py for the ranking.
"""

import json

from absl import flags

from kd_ntk import cli
from kd_ntk.advisor import advise, markdown, write_all

_TEACHER = flags.DEFINE_string(
  "teacher_workdir", None, "Teacher run directory."
)
_STUDENT = flags.DEFINE_string("student", "mlp16", "Student preset name.")
_STUDENT_KWARGS = flags.DEFINE_string(
  "student_kwargs", "{}", "Preset overrides as JSON, e.g. '{\"width\": 8}'."
)
_STUDENT_SEED = flags.DEFINE_integer("student_seed", 0, "Student init seed.")
_EPOCHS = flags.DEFINE_list(
  "epochs", [], "Candidate checkpoints (empty: every saved one)."
)
_TEMPERATURES = flags.DEFINE_list(
  "temperatures", ["1", "2", "4", "8"], "τ values."
)
_N = flags.DEFINE_integer("n", 1024, "Kernel subset size.")
_N_VALIDATION = flags.DEFINE_integer("n_validation", 1024, "Validation size.")
_DECISION = flags.DEFINE_string(
  "decision", "krr_accuracy", "Score column that ranks."
)
_OUT = flags.DEFINE_string("out", None, "Folder for advice.csv/.md/.png.")
flags.mark_flags_as_required(["teacher_workdir", "out"])


def _kwargs() -> dict:
  try:
    value = json.loads(_STUDENT_KWARGS.value)
  except json.JSONDecodeError as err:
    raise ValueError(f"--student_kwargs is not JSON: {err}") from None
  if not isinstance(value, dict):
    raise ValueError("--student_kwargs must be a JSON object.")
  return value


def run() -> dict:
  advice = advise(
    _TEACHER.value,
    _STUDENT.value,
    student_kwargs=_kwargs(),
    student_seed=_STUDENT_SEED.value,
    epochs=[int(e) for e in _EPOCHS.value] or None,
    temperatures=[float(t) for t in _TEMPERATURES.value],
    n=_N.value,
    n_validation=_N_VALIDATION.value,
    decision=_DECISION.value,
    log=print,
  )
  print(markdown(advice), flush=True)
  print(f"stage seconds: {advice.seconds}")
  return write_all(advice, _OUT.value)


def main(argv):
  del argv
  paths = cli.run_or_exit(run)
  print(f"wrote {', '.join(sorted(paths.values()))}")


if __name__ == "__main__":
  cli.launch(main)
