"""KD loss conventions, and the student's step against label training."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk import models
from kd_ntk.configs import teacher as teacher_config
from kd_ntk.distill import losses, steps as dsteps
from kd_ntk.train import state as state_lib, steps


def _logits(seed, shape=(6, 5), scale=2.0):
  return jnp.asarray(
    np.random.default_rng(seed).normal(size=shape) * scale, jnp.float32
  )


def test_kd_at_unit_temperature_with_one_hot_teacher_is_cross_entropy():
  student = _logits(0)
  labels = jnp.array([0, 1, 2, 3, 4, 0])
  teacher = 1000.0 * jax.nn.one_hot(
    labels, 5
  )  # A large-logit (one-hot) teacher.
  kd = losses.kd_loss(student, teacher, temperature=1.0)
  np.testing.assert_allclose(
    kd, steps.cross_entropy(student, labels), rtol=1e-6
  )


@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0])
def test_gradient_scale_follows_tau_squared_convention(tau):
  student, teacher = _logits(1, (1, 7)), _logits(2, (1, 7))
  grad = jax.grad(lambda z: losses.kd_loss(z, teacher, tau))(student)
  p_s, p_t = jax.nn.softmax(student / tau), jax.nn.softmax(teacher / tau)
  np.testing.assert_allclose(grad, tau * (p_s - p_t), atol=1e-6)
  # Without the factor: (p_S − p_T)/τ, i.e. τ² times smaller.
  grad_plain = jax.grad(lambda z: losses.kd_loss(z, teacher, tau, False))(
    student
  )
  np.testing.assert_allclose(grad_plain, (p_s - p_t) / tau, atol=1e-6)


def test_no_gradient_reaches_the_teacher():
  student, teacher = _logits(3), _logits(4)
  grad = jax.grad(lambda t: losses.kd_loss(student, t, 2.0))(teacher)
  assert float(jnp.abs(grad).max()) == 0.0


def test_alpha_mixes_label_cross_entropy_and_kd():
  student, teacher = _logits(5), _logits(6)
  labels = jnp.array([4, 3, 2, 1, 0, 1])
  loss, aux = losses.distillation_loss(
    student, teacher, labels, temperature=3.0, alpha=0.3
  )
  ce = steps.cross_entropy(student, labels)
  kd = 9.0 * np.mean(
    np.sum(
      jax.nn.softmax(teacher / 3)
      * (jax.nn.log_softmax(teacher / 3) - jax.nn.log_softmax(student / 3)),
      -1,
    )
  )
  np.testing.assert_allclose(aux["ce"], ce, rtol=1e-6)
  np.testing.assert_allclose(aux["kd"], kd, rtol=1e-5)
  np.testing.assert_allclose(loss, 0.3 * ce + 0.7 * kd, rtol=1e-5)


def test_kd_is_zero_when_student_equals_teacher_and_jits_with_traced_tau():
  z = _logits(7)
  fn = jax.jit(losses.kd_loss)
  for tau in (1.0, 4.0):
    assert abs(float(fn(z, z, tau))) < 1e-6
  assert fn._cache_size() == 1  # τ is traced: a new value does not recompile.


def _setup(model_name, **kwargs):
  model = models.get_model(model_name, 10, **kwargs)
  tx = state_lib.make_optimizer(teacher_config.get_config("").optimizer, 10, 1)
  # Jitted: op-by-op initialisation of a CNN takes seconds on CPU.
  init = jax.jit(state_lib.create_state, static_argnums=(0, 1, 3))
  return model, tx, init(model, tx, jax.random.PRNGKey(0), (28, 28, 1))


def test_alpha_one_equals_training_on_labels():
  # One BatchNorm conv stage: running statistics must match too.
  model, tx, state = _setup("cnn_tiny", channels=(4,), hidden=0)
  teacher_model, _, teacher_state = _setup("mlp16")
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(8, 28, 28, 1)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 10, 8))
  key = jax.random.PRNGKey(3)
  expected, _ = jax.jit(
    functools.partial(steps.train_step, model=model, tx=tx)
  )(state, images, labels, key)
  step = dsteps.jit_distill_step(
    model=model, teacher_model=teacher_model, tx=tx
  )
  got, metrics = step(
    state,
    images,
    labels,
    key,
    (teacher_state.variables(),),
    np.ones(1, np.float32),
    dsteps.scalar(4.0),
    dsteps.scalar(1.0),
  )
  for a, b in zip(
    jax.tree_util.tree_leaves((expected.params, expected.batch_stats)),
    jax.tree_util.tree_leaves((got.params, got.batch_stats)),
  ):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert (
    float(metrics["kd"]) > 0
  )  # The teacher was consulted, with zero weight.


def test_teacher_runs_in_inference_mode():
  teacher_model, _, teacher_state = _setup("cnn_tiny", channels=(4,), hidden=0)
  images = jnp.asarray(
    np.random.default_rng(1).normal(size=(4, 28, 28, 1)) * 3, jnp.float32
  )
  variables = teacher_state.variables()
  got = dsteps.teacher_logits(
    (variables,), jnp.ones(1), images, teacher_model=teacher_model
  )
  inference = teacher_model.apply(variables, images, train=False)
  batch_mode, _ = teacher_model.apply(
    variables, images, train=True, mutable=["batch_stats"]
  )
  np.testing.assert_allclose(got, inference, rtol=1e-6)
  assert not np.allclose(got, batch_mode, atol=1e-3)


def test_blended_teacher_logits_are_the_weighted_mean():
  teacher_model, _, a = _setup("mlp16")
  b = a.replace(
    params=jax.tree_util.tree_map(lambda x: x * 0.5 + 0.1, a.params)
  )
  images = jnp.ones((4, 28, 28, 1))
  za = teacher_model.apply(a.variables(), images)
  zb = teacher_model.apply(b.variables(), images)
  got = dsteps.teacher_logits(
    (a.variables(), b.variables()),
    jnp.array([0.25, 0.75]),
    images,
    teacher_model=teacher_model,
  )
  np.testing.assert_allclose(got, 0.25 * za + 0.75 * zb, rtol=1e-5, atol=1e-6)
