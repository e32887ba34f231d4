"""Which teacher checkpoint and temperature to distill from, for one student.

  python experiments/advise.py --teacher_workdir=runs/teacher_quick \
      --student=mlp16 --temperatures=1,2,4,8 --n=1024 --out=runs/advice_quick

Writes advice.csv (every pair's scores, ranked), advice.md and advice.png in
--out and prints the table. No student is trained; see kd_ntk/advisor/ for the
scores and kd_ntk/advisor/decision.py for the ranking.

Validation mode (--validate_seeds=S > 0) then trains S students of the
student preset for every pair (kd_ntk/advisor/trainers.py; runs under
--student_runs, resumable) and writes pairs.csv, correlations.csv,
validation.md and validation.png: every score's Spearman and Kendall
correlation with the students' test accuracy (95% bootstrap over seeds) and
the regret of its advice:

  python experiments/advise.py --teacher_workdir=runs/teacher_quick \
      --student=cnn_tiny --student_kwargs='{"channels": [2, 4], "hidden": 8}' \
      --epochs=0,1,2,3,5,10 --temperatures=1,4,8 --validate_seeds=8 \
      --out=runs/advice_cnn_w2
"""

import json

from absl import flags

from kd_ntk import cli
from kd_ntk.advisor import advise, markdown, write_all
from kd_ntk.advisor.trainers import DistillLoopTrainer
from kd_ntk.advisor.validate import validate, without_epochs
from kd_ntk.advisor.validation_files import write_validation

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
_SEEDS = flags.DEFINE_integer(
  "validate_seeds", 0, "Validation: students per pair (0: no validation)."
)
_STUDENT_EPOCHS = flags.DEFINE_integer(
  "student_epochs", 10, "Validation epochs."
)
_STUDENT_LR = flags.DEFINE_float("student_lr", 0.05, "Validation peak lr.")
_STUDENT_SCHEDULE = flags.DEFINE_string(
  "student_schedule", "constant", "Validation lr schedule."
)
_STUDENT_RUNS = flags.DEFINE_string(
  "student_runs",
  "",
  "Folder of the validation's student runs (<out>/students).",
)
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
  paths = write_all(advice, _OUT.value)
  if _SEEDS.value > 0:
    trainer = DistillLoopTrainer(
      _TEACHER.value,
      _STUDENT_RUNS.value or f"{_OUT.value}/students",
      model=_STUDENT.value,
      model_kwargs=_kwargs(),
      epochs=_STUDENT_EPOCHS.value,
      learning_rate=_STUDENT_LR.value,
      schedule=_STUDENT_SCHEDULE.value,
      log=print,
    )
    report = validate(advice, trainer, range(_SEEDS.value))
    paths.update(write_validation(report, advice, _OUT.value, _STUDENT.value))
    with open(paths["validation_markdown"]) as fh:
      print(fh.read())
    if 0 in {c.epoch for c in report.candidates}:  # and again without it
      folder = f"{_OUT.value}/without_checkpoint_0"
      write_validation(
        without_epochs(advice, report, [0]),
        advice,
        folder,
        f"{_STUDENT.value}, checkpoint 0 left out",
      )
      paths["without_checkpoint_0"] = folder
  return paths


def main(argv):
  del argv
  paths = cli.run_or_exit(run)
  print(f"wrote {', '.join(sorted(paths.values()))}")


if __name__ == "__main__":
  cli.launch(main)
