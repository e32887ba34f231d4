"""Time of the advice itself (no student training): one JSON line per student.

  python experiments/benchmarks/bench_advise.py \
      --teacher_workdir=/tmp/teacher_quick9 \
      --students=mlp16,lenet5 --n=1024 --n_validation=1024

A missing --teacher_workdir is first trained with teacher.py:quick and
--teacher_epochs epochs (10 checkpoints by default: epochs 0..9); its training
is not timed. Each line: the student, n, the validation size, the number of
candidate pairs, wall seconds of `advise(...)` in a fresh process (the first
call: compilation included), its stage times, the peak resident memory, and
the 120 s target of the issue ("ratio" = seconds / 120), and the machine's
1-minute load average at the end (other processes on the same cores slow it).
"""

import json
import os
import resource
import time

from absl import app, flags

_TEACHER = flags.DEFINE_string(
  "teacher_workdir", "/tmp/kd_ntk_bench_advise/teacher", "Teacher run."
)
_TEACHER_EPOCHS = flags.DEFINE_integer(
  "teacher_epochs", 9, "Epochs of a teacher trained here (checkpoints 0..E)."
)
_STUDENTS = flags.DEFINE_list("students", ["mlp16", "lenet5"], "Presets.")
_TEMPERATURES = flags.DEFINE_list("temperatures", ["1", "2", "4", "8"], "τ.")
_N = flags.DEFINE_integer("n", 1024, "Kernel subset size.")
_N_VALIDATION = flags.DEFINE_integer("n_validation", 1024, "Validation size.")
TARGET_SECONDS = 120.0


def _teacher() -> str:
  # pylint: disable-next=g-import-not-at-top
  from kd_ntk.configs import teacher as teacher_config
  from kd_ntk.train import loop, runs  # pylint: disable=g-import-not-at-top

  workdir = _TEACHER.value
  if not (os.path.isdir(workdir) and runs.saved_epochs(workdir)):
    config = teacher_config.get_config(f"quick,epochs={_TEACHER_EPOCHS.value}")
    loop.run(config, workdir)
  return workdir


def main(argv):
  del argv
  from kd_ntk import cli  # pylint: disable=g-import-not-at-top
  from kd_ntk.advisor import advise  # pylint: disable=g-import-not-at-top
  from kd_ntk.train import runs  # pylint: disable=g-import-not-at-top

  with cli.quiet_absl_logs():
    teacher = _teacher()
    epochs = runs.saved_epochs(teacher)[-10:]
    for student in _STUDENTS.value:
      start = time.perf_counter()
      advice = advise(
        teacher,
        student,
        epochs=epochs,
        temperatures=[float(t) for t in _TEMPERATURES.value],
        n=_N.value,
        n_validation=_N_VALIDATION.value,
      )
      seconds = time.perf_counter() - start
      peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
      print(
        json.dumps(
          {
            "what": "advise",
            "student": student,
            "n": advice.n_train,
            "n_validation": advice.n_validation,
            "candidates": len(advice.scores),
            "checkpoints": len(epochs),
            "seconds": round(seconds, 2),
            "stages": advice.seconds,
            "peak_rss_gb": round(peak, 2),
            "target_seconds": TARGET_SECONDS,
            "ratio": round(seconds / TARGET_SECONDS, 3),
            "cpus": os.cpu_count(),
            # Other processes share the cores: the 1-minute load average.
            "load_average": round(os.getloadavg()[0], 2),
            "recommended": [
              advice.recommended.epoch,
              advice.recommended.temperature,
            ],
          }
        ),
        flush=True,
      )


if __name__ == "__main__":
  app.run(main)
