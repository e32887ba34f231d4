"""The student's optimizer: the teacher recipe with the KD temperature's scaling."""

import copy

import ml_collections

from kd_ntk.train.state import learning_rate_schedule, make_optimizer


def student_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int):
  """(optax transformation, learning-rate schedule) of the student.

  With distill.lr_scale = "inverse_tau_squared" the peak learning rate is divided
  by τ_max², τ_max the largest temperature of the run: the τ² factor of the KD loss
  then no longer multiplies the SGD step (the pilot's LeNet-5 at τ=4 diverged
  without it). "inverse_tau" divides by τ_max, a milder correction: at large τ
  the gradient of τ²·KL w.r.t. the logits, τ·(p_S^τ − p_T^τ), grows about
  linearly in τ early in training, when the logits are still far apart.
  """
  opt = config.optimizer
  d = config.distill
  if d.lr_scale != "none" and d.mode != "none":
    tau_max = max(
      d.temperature,
      d.temperature_start
      if d.temperature_schedule != "constant"
      else d.temperature,
    )
    opt = copy.deepcopy(opt)
    power = 2 if d.lr_scale == "inverse_tau_squared" else 1
    opt.learning_rate = opt.learning_rate / tau_max**power
  return (
    make_optimizer(opt, steps_per_epoch, config.epochs),
    learning_rate_schedule(opt, steps_per_epoch, config.epochs),
  )
