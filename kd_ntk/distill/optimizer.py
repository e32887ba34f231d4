"""The student's optimizer: the teacher recipe with the KD temperature's
scaling, and a cosine that can end at a floor after a constant phase.

Learning-rate forms of `config.optimizer.schedule` for students:

  constant   η(t) = η                    (C3's own run: the kernel keeps moving)
  step       η(t) = η · f^{#boundaries passed}  (f = step_factor; the teacher's)
  cosine     η(t) = η                                       for t < t_0,
             η(t) = η·[φ + (1 − φ)·½(1 + cos(π (t − t_0)/(T − t_0)))]  after,

with T the total number of steps, t_0 = ⌊decay_start·T⌋ (the constant phase;
at least the warm-up) and φ = lr_floor (the final rate as a fraction of η).
lr_floor = decay_start = 0 is the teacher's cosine to 0 (`kd_ntk.train.state`).
A decaying end averages out the last steps' noise, so paired seeds agree more
closely (less seed variance) than at a constant rate; a floor > 0 keeps the
kernel moving a little. Which form the accuracy claims use is chosen on the
validation split with labels-only students
(experiments/choose_student_schedule.py).
"""

import copy

import ml_collections
import optax

from kd_ntk.train.state import learning_rate_schedule, make_optimizer


def _floored(opt) -> bool:
  return opt.schedule == "cosine" and (
    float(opt.get("lr_floor", 0.0)) > 0
    or float(opt.get("decay_start", 0.0)) > 0
  )


def check_schedule_fields(opt: ml_collections.ConfigDict) -> None:
  """One-line errors for lr_floor / decay_start outside [0, 1), pre-training."""
  for name in ("lr_floor", "decay_start"):
    value = float(opt.get(name, 0.0))
    if not 0.0 <= value < 1.0:
      raise ValueError(
        f"optimizer.{name} must lie in [0, 1) (a fraction); got {value}."
      )


def floored_cosine_schedule(
  opt: ml_collections.ConfigDict, steps_per_epoch: int, epochs: int
) -> optax.Schedule:
  """Warm-up (optional), constant η until decay_start·T, cosine to lr_floor·η.

  See the module docstring for the equation.
  """
  check_schedule_fields(opt)
  total = max(steps_per_epoch * epochs, 1)
  warmup = int(round(opt.get("warmup_epochs", 0) * steps_per_epoch))
  start = max(warmup, int(float(opt.get("decay_start", 0.0)) * total))
  base = opt.learning_rate
  cosine = optax.cosine_decay_schedule(
    base, max(total - start, 1), alpha=float(opt.get("lr_floor", 0.0))
  )
  parts, boundaries = [], []
  if warmup:
    parts.append(optax.linear_schedule(0.0, base, warmup))
    boundaries.append(warmup)
  if start > warmup:
    parts.append(optax.constant_schedule(base))
    boundaries.append(start)
  if not parts:
    return cosine
  return optax.join_schedules(parts + [cosine], boundaries)


def schedule_and_transform(
  opt: ml_collections.ConfigDict, steps_per_epoch: int, epochs: int
):
  """(optax transformation, schedule) of an optimizer block (student forms)."""
  if not _floored(opt):
    check_schedule_fields(opt)
    return (
      make_optimizer(opt, steps_per_epoch, epochs),
      learning_rate_schedule(opt, steps_per_epoch, epochs),
    )
  schedule = floored_cosine_schedule(opt, steps_per_epoch, epochs)
  # The chain of kd_ntk.train.state.make_optimizer with this schedule.
  tx = optax.chain(
    optax.add_decayed_weights(opt.weight_decay),
    optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.nesterov),
  )
  return tx, schedule


def student_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int):
  """(optax transformation, learning-rate schedule) of the student.

  With distill.lr_scale = "inverse_tau_squared" the peak learning rate is
  divided by τ_max², τ_max the largest temperature of the run: the τ² factor of
  the KD loss then no longer multiplies the SGD step (the pilot's LeNet-5 at τ=4
  diverged without it). "inverse_tau" divides by τ_max, a milder correction: at
  large τ the gradient of τ²·KL w.r.t. the logits, τ·(p_S^τ − p_T^τ), grows
  about linearly in τ early in training, when the logits are still far apart.
  The schedule's form (and lr_floor, decay_start) is the module docstring's.
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
  return schedule_and_transform(opt, steps_per_epoch, config.epochs)
