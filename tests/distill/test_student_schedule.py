"""The student's cosine to a floor after a constant phase, against the equation
of kd_ntk.distill.optimizer computed by hand, and the teacher's forms unchanged."""

import math

import jax.numpy as jnp
import optax
import pytest

from kd_ntk.configs import distill as distill_config
from kd_ntk.distill import optimizer as student_opt
from kd_ntk.train.state import learning_rate_schedule


def _config(arg):
  return distill_config.get_config("none,tiny," + arg)


def _by_hand(t, eta, total, start, floor):
  if t < start:
    return eta
  x = (t - start) / (total - start)
  return eta * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * x)))


@pytest.mark.parametrize("start,floor", [(0.0, 0.1), (0.5, 0.05), (0.75, 0.0)])
def test_floored_cosine_follows_the_equation(start, floor):
  c = _config(f"optimizer.decay_start={start},optimizer.lr_floor={floor}")
  spe, eta = 10, c.optimizer.learning_rate
  total = spe * c.epochs
  _, schedule = student_opt.student_optimizer(c, spe)
  t0 = int(start * total)
  for t in range(total + 1):
    assert float(schedule(t)) == pytest.approx(
      _by_hand(t, eta, total, t0, floor), rel=1e-5, abs=1e-9
    ), t
  assert float(schedule(total)) == pytest.approx(eta * floor, abs=1e-9)


def test_defaults_keep_the_teachers_forms():
  for form in ("cosine", "step", "constant"):
    c = _config(f"optimizer.schedule='{form}'")
    _, schedule = student_opt.student_optimizer(c, 7)
    ref = learning_rate_schedule(c.optimizer, 7, c.epochs)
    assert [float(schedule(t)) for t in range(15)] == pytest.approx(
      [float(ref(t)) for t in range(15)]
    )


def test_warmup_then_constant_then_cosine_and_lr_scale():
  c = distill_config.get_config(
    "offline,tiny,optimizer.decay_start=0.5,optimizer.lr_floor=0.2,"
    "optimizer.warmup_epochs=0.5,distill.temperature=4.0"
  )
  spe = 10  # 2 epochs: T = 20, warm-up 5 steps, constant to step 10.
  eta = c.optimizer.learning_rate / 4  # lr_scale inverse_tau at τ = 4.
  _, schedule = student_opt.student_optimizer(c, spe)
  assert float(schedule(0)) == 0.0
  assert float(schedule(5)) == pytest.approx(eta)
  assert float(schedule(9)) == pytest.approx(eta)
  assert float(schedule(15)) == pytest.approx(_by_hand(15, eta, 20, 10, 0.2))
  assert float(schedule(20)) == pytest.approx(0.2 * eta)


def test_the_transformation_steps_at_the_schedules_rate():
  c = _config("optimizer.lr_floor=0.5,optimizer.momentum=0.0")
  c.optimizer.weight_decay = 0.0
  tx, schedule = student_opt.student_optimizer(c, 4)
  params = {"w": jnp.ones(3)}
  state = tx.init(params)
  grads = {"w": jnp.ones(3)}
  for t in range(8):
    updates, state = tx.update(grads, state, params)
    assert float(updates["w"][0]) == pytest.approx(
      -float(schedule(t)), rel=1e-6
    )
  assert isinstance(tx, optax.GradientTransformation)


def test_bad_fractions_are_refused():
  with pytest.raises(ValueError, match="optimizer.lr_floor must lie in"):
    student_opt.student_optimizer(_config("optimizer.lr_floor=1.5"), 4)
  with pytest.raises(ValueError, match="optimizer.decay_start must lie in"):
    student_opt.student_optimizer(_config("optimizer.decay_start=-0.1"), 4)
