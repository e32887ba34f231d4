"""Chooses the accuracy students' learning-rate schedule on the validation
split.

Labels-only students (no teacher: no distillation outcome is seen) of the
reproduction config's smallest claims student are trained under each form with
the same seeds (same initialisation and data order per seed), then scored on
the config's validation split (training images outside the training subset,
never the test set). Prints one JSON line per run, per form, per paired
comparison against the constant rate, and the choice:

  rule (`kd_ntk.science.schedule_choice`): among the forms whose validation
  accuracy is not detectably below the best form's (paired-by-seed 95%
  interval of form − best not entirely < 0), the one with the smallest end
  jitter: the mean over seeds of the SD of validation accuracy over the last
  3 epochs (the noise of where training stops, which two arms of one seed do
  not share; a seed's own level they do share, and pairing removes it). The
  seed SD is printed beside it.

  python experiments/choose_student_schedule.py \
      --config=kd_ntk/configs/reproduce.py:quick,validation_size=5000 \
      --workdir=runs/choose_schedule --seeds=0,1,2,3 \
      --forms=constant,step,cosine_floor
"""

import json
import os
import time

import numpy as np
from absl import flags
from ml_collections import config_flags

from kd_ntk import cli
from kd_ntk.configs import distill as distill_config
from kd_ntk.data import data_mesh
from kd_ntk.distill import loop as distill_loop
from kd_ntk.distill.seed_grid import Shared
from kd_ntk.experiment.student_runs import COPIED_FROM_TEACHER
from kd_ntk.grid import records
from kd_ntk.experiment import teacher_selection
from kd_ntk.science import schedule_choice
from kd_ntk.train import runs
from kd_ntk.train.evaluation import evaluate

# name -> fields of the student's optimizer block (kd_ntk.distill.optimizer).
FORMS = {
  "constant": {"schedule": "constant"},
  "step": {"schedule": "step"},  # × 0.1 at 50% and 75% of training.
  "cosine_floor": {"schedule": "cosine", "lr_floor": 0.05},
  "late_cosine": {"schedule": "cosine", "decay_start": 0.5, "lr_floor": 0.0},
}

LAST_EPOCHS = 3  # End jitter: SD of validation accuracy over these epochs.

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "reproduce.py config."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (resumed).")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3"], "Paired seeds.")
_FORMS = flags.DEFINE_list("forms", list(FORMS), f"Forms among {list(FORMS)}.")
_WIDTH = flags.DEFINE_integer("width", 0, "Student width (0 = the smallest).")
flags.mark_flags_as_required(["config", "workdir"])


def student_config(config, student, form: str, seed: int):
  """A labels-only distill.py config of `student` under schedule `form`."""
  c = distill_config.get_config("none")
  c.distill.teacher_workdir = ""  # Labels only: no teacher is read.
  for key in COPIED_FROM_TEACHER:
    c[key] = config.teacher[key]
  c.augment.pad, c.augment.flip = config.teacher.augment.pad, False
  c.model, kwargs = student.model()
  c.model_kwargs.update(kwargs)
  c.seed, c.epochs = seed, int(config.students_run.epochs)
  c.optimizer.learning_rate = config.students_run.learning_rate
  c.optimizer.warmup_epochs = float(config.students_run.get("warmup_epochs", 0))
  c.optimizer.update(FORMS[form])
  c.train_eval_size = config.students_run.train_eval_size
  return c


def main(argv):
  del argv
  config, forms = _CONFIG.value, list(_FORMS.value)
  seeds = [int(s) for s in _SEEDS.value]
  unknown = sorted(set(forms) - set(FORMS))
  if unknown or len(seeds) < 2:
    cli.fail(
      f"error: --forms must be among {list(FORMS)} and --seeds hold >= 2 "
      f"seeds; got {forms}, {seeds}."
    )
  family = config.claims.family
  students = [
    s
    for s in records.students_from_config(config.students)
    if s.family == family
  ]
  student = min(students, key=lambda s: (s.width != _WIDTH.value, s.width))
  images, labels, info = teacher_selection.validation_data(
    config.teacher, config.validation_size, config.validation_seed
  )
  mesh, shared = data_mesh(), Shared()
  acc, jitter = {f: {} for f in forms}, {f: {} for f in forms}
  for form in forms:
    for seed in seeds:
      c, start = student_config(config, student, form, seed), time.time()
      workdir = os.path.join(_WORKDIR.value, student.slug, form, f"seed{seed}")
      distill_loop.run(c, workdir, shared)
      _, model = runs.load_run(workdir, info.num_classes)
      last = {}  # Validation scores of the last LAST_EPOCHS checkpoints.
      for epoch in range(max(c.epochs - LAST_EPOCHS + 1, 1), c.epochs + 1):
        variables = runs.restore_variables(
          workdir,
          epoch,
          input_shape=info.image_shape,
          mesh=mesh,
          num_classes=info.num_classes,
        )
        last[epoch] = evaluate(
          model,
          variables,
          images,
          labels,
          batch_size=min(1000, len(labels)),
          mesh=mesh,
        )
      acc[form][seed] = float(last[c.epochs]["accuracy"])
      ends = [float(v["accuracy"]) for v in last.values()]
      jitter[form][seed] = float(np.std(ends, ddof=1)) if len(ends) > 1 else 0.0
      line = {
        "what": "run",
        "form": form,
        "seed": seed,
        "val_accuracy": acc[form][seed],
        "val_loss": float(last[c.epochs]["loss"]),
        "val_accuracy_last_epochs": ends,
        "seconds": round(time.time() - start, 1),
      }
      print(json.dumps(line), flush=True)
  _, lines = schedule_choice.choose(acc, jitter=jitter)
  context = {
    "student": student.name,
    "epochs": int(config.students_run.epochs),
    "validation_size": len(labels),
  }
  for line in lines:
    extra = FORMS[line["form"]] if line["what"] == "form" else {}
    print(json.dumps({**line, **extra, **context}), flush=True)


if __name__ == "__main__":
  cli.launch(main)
