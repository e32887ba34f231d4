"""Pilot of a regime's power: paired SD of online − offline test accuracy.

Trains the reproduction config's teacher (or reuses it), then the smallest
claims student with offline and online τ distillation under each listed
student schedule, same seeds, and prints one JSON line per run and per
schedule: the paired SD s of the per-seed differences (points), the
correlation of the two arms over seeds, the 80%-power detectable effect, and
the seeds a run needs for a 0.5-point half-width and a 1-point effect at that
SD (`kd_ntk.science.power.seed_plan`). Run after the schedule was chosen
(experiments/choose_student_schedule.py): it plans seeds, it does not choose.

  python experiments/pilot_paired_sd.py --config=kd_ntk/configs/reproduce.py \
      --workdir=runs/pilot --seeds=0,1,2,3 --schedules=constant,step
"""

import json
import os

import ml_collections
import numpy as np
from absl import flags
from ml_collections import config_flags

from kd_ntk import cli
from kd_ntk.distill import loop as distill_loop
from kd_ntk.distill.seed_grid import Shared
from kd_ntk.experiment.student_runs import student_config
from kd_ntk.grid import records
from kd_ntk.science import power, stats
from kd_ntk.train import loop as train_loop

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "reproduce.py config."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (resumed).")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3"], "Paired seeds.")
_SCHEDULES = flags.DEFINE_list("schedules", ["constant", "step"], "Forms.")
_TAU = flags.DEFINE_float("temperature", 4.0, "τ of both arms.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  config, seeds = _CONFIG.value, [int(s) for s in _SEEDS.value]
  teacher_dir = os.path.join(_WORKDIR.value, "teacher")
  train_loop.run(config.teacher, teacher_dir)
  family = config.claims.family
  student = min(
    (
      s
      for s in records.students_from_config(config.students)
      if s.family == family
    ),
    key=lambda s: s.width,
  )
  tau = _TAU.value
  arms = {
    mode: records.TeachingMethod(f"{mode} τ={tau:g}", mode, tau, 0.0)
    for mode in ("offline", "online")
  }
  shared = Shared()
  for schedule in _SCHEDULES.value:
    run = ml_collections.ConfigDict(config.students_run.to_dict())
    run.schedule = schedule
    acc = {mode: {} for mode in arms}
    for seed in seeds:
      for mode, method in arms.items():
        c = student_config(
          run,
          config.teacher,
          teacher_dir=teacher_dir,
          student=student,
          method=method,
          seed=seed,
        )
        workdir = os.path.join(_WORKDIR.value, schedule, mode, f"seed{seed}")
        rows = distill_loop.run(c, workdir, shared)
        acc[mode][seed] = 100 * float(rows[-1]["test_accuracy"])
        line = {"what": "run", "schedule": schedule, "mode": mode, "seed": seed}
        print(json.dumps(line | {"test_accuracy": acc[mode][seed]}), flush=True)
    c = stats.paired("online − offline", acc["online"], acc["offline"])
    on = [acc["online"][s] for s in seeds]
    off = [acc["offline"][s] for s in seeds]
    summary = {
      "what": "schedule",
      "schedule": schedule,
      "student": student.name,
      "epochs": int(run.epochs),
      "n": c.n,
      "estimate": c.estimate,
      "low": c.low,
      "high": c.high,
      "paired_sd": c.sd,
      "arm_correlation": float(np.corrcoef(on, off)[0, 1]),
      "seed_sd_offline": float(np.std(off, ddof=1)),
      "mde": c.mde,
      "plan": power.seed_plan(c.sd, 0.5, 1.0, c.n) if c.sd > 0 else None,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  cli.launch(main)
