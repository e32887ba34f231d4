"""Knowledge distillation: losses, teacher schedules, the student's step and
loop.

`kd_ntk.distill.run(config, workdir)` trains a student (see
kd_ntk/configs/distill.py); `losses`, `sources` and `steps` are its pure parts.
"""

from kd_ntk.distill.losses import (
  distillation_loss,
  kd_loss,
  kl_to_teacher_B,
  soft_targets,
)
from kd_ntk.distill.loop import run
from kd_ntk.distill.sources import TeacherPick
from kd_ntk.distill.steps import distill_step, jit_distill_step, teacher_logits

__all__ = [
  "TeacherPick",
  "distill_step",
  "distillation_loss",
  "jit_distill_step",
  "kd_loss",
  "kl_to_teacher_B",
  "run",
  "soft_targets",
  "teacher_logits",
]
