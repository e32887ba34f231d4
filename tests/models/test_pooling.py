"""The training form of max pooling against flax's `reduce_window_max`:
same values, same derivative (ties included), same train/inference models."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk import models
from kd_ntk.models import pooling


def _flax_pool(x, window, padding):
  return nn.max_pool(x, window, strides=window, padding=padding)


@pytest.mark.parametrize(
  "shape, padding",
  [
    ((3, 8, 6, 5), "VALID"),
    ((2, 7, 9, 3), "VALID"),  # odd sizes: the last row/column is dropped
    ((2, 8, 4, 3), "SAME"),  # divisible: no padding, the tiled form
    ((2, 7, 7, 3), "SAME"),  # padded: falls back to reduce_window
  ],
)
@pytest.mark.parametrize("form", ["first_max_pool", "one_hot_pool"])
def test_values_and_vjp_match_flax(shape, padding, form, monkeypatch):
  monkeypatch.setattr(pooling, "training_form", lambda: getattr(pooling, form))
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  ours = lambda v: pooling.max_pool(v, (2, 2), padding, for_training=True)
  theirs = lambda v: _flax_pool(v, (2, 2), padding)
  y, vjp = jax.vjp(ours, x)
  y_ref, vjp_ref = jax.vjp(theirs, x)
  np.testing.assert_array_equal(y, y_ref)
  ct = jax.random.normal(jax.random.PRNGKey(1), y.shape)
  np.testing.assert_array_equal(vjp(ct)[0], vjp_ref(ct)[0])
  np.testing.assert_array_equal(
    pooling.max_pool(x, (2, 2), padding, for_training=False), y_ref
  )


def test_training_form_follows_the_cpu_runtime(monkeypatch):
  if jax.default_backend() != "cpu":
    pytest.skip("the choice is made for XLA:CPU only")
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_thunk_runtime=false")
  assert pooling.training_form() is pooling.first_max_pool
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
  assert pooling.training_form() is pooling.one_hot_pool


@pytest.mark.parametrize("form", ["first_max_pool", "one_hot_pool"])
def test_ties_send_the_cotangent_to_the_first_maximum_like_jax(form):
  # Windows with 4, 2 and 3 tied maxima, and a zero window as after a ReLU.
  x = jnp.array(
    [
      [1.0, 1.0, 0.0, 0.0],
      [1.0, 1.0, 0.0, 0.0],
      [2.0, 3.0, 3.0, 3.0],
      [3.0, 2.0, 3.0, 1.0],
    ]
  )[None, :, :, None]
  ct = jnp.arange(1.0, 5.0).reshape(1, 2, 2, 1)
  ours = jax.vjp(lambda v: getattr(pooling, form)(v, (2, 2)), x)
  theirs = jax.vjp(lambda v: _flax_pool(v, (2, 2), "VALID"), x)
  np.testing.assert_array_equal(ours[1](ct)[0], theirs[1](ct)[0])
  expected = np.zeros((4, 4))
  expected[0, 0], expected[0, 2], expected[2, 1], expected[2, 2] = 1, 2, 3, 4
  np.testing.assert_array_equal(ours[1](ct)[0][0, ..., 0], expected)


def test_first_max_pool_forward_mode_and_second_order_match_flax():
  x = jax.random.normal(jax.random.PRNGKey(5), (2, 6, 9, 3))  # a column dropped
  v = jax.random.normal(jax.random.PRNGKey(6), x.shape)
  ours = lambda z: pooling.first_max_pool(z, (2, 3))
  theirs = lambda z: _flax_pool(z, (2, 3), "VALID")
  np.testing.assert_array_equal(
    jax.jvp(ours, (x,), (v,))[1], jax.jvp(theirs, (x,), (v,))[1]
  )
  grad = lambda pool: jax.grad(lambda z: jnp.sum(jnp.sin(pool(z)) ** 2))
  np.testing.assert_allclose(
    jax.jvp(grad(ours), (x,), (v,))[1],
    jax.jvp(grad(theirs), (x,), (v,))[1],
    rtol=1e-6,
  )
  np.testing.assert_array_equal(
    jax.vmap(ours)(x[:, None]), jax.vmap(theirs)(x[:, None])
  )


def test_first_max_pool_with_infinities_and_nan_matches_flax():
  x = jnp.array([[-jnp.inf, 1.0, jnp.inf, 0.0], [2.0, 3.0, 5.0, jnp.nan]])[
    None, :, :, None
  ]
  ours = jax.vjp(lambda z: pooling.first_max_pool(z, (2, 2)), x)
  theirs = jax.vjp(lambda z: _flax_pool(z, (2, 2), "VALID"), x)
  np.testing.assert_array_equal(ours[0], theirs[0])  # [3, nan]
  ct = jnp.ones_like(ours[0])
  np.testing.assert_array_equal(ours[1](ct)[0], theirs[1](ct)[0])


def test_tiled_max_pool_any_rank_and_window():
  x = jax.random.normal(jax.random.PRNGKey(2), (4, 9, 6))
  got = pooling.tiled_max_pool(x, (2, 3, 2))
  want = np.asarray(x)[:4, :9, :6].reshape(2, 2, 3, 3, 3, 2).max((1, 3, 5))
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
  "name, overrides",
  [("lenet5", {}), ("cnn_tiny", {"use_batchnorm": False})],  # 28→14→7→4
)
def test_train_mode_model_equals_inference_mode(name, overrides):
  """Without BatchNorm and dropout the pools are the only train/inference
  difference, so logits and parameter gradients agree between the modes."""
  model = models.get_model(name, 10, **overrides)
  x = jax.random.normal(jax.random.PRNGKey(3), (4, 28, 28, 1))
  variables = models.init_variables(model, jax.random.PRNGKey(4), x.shape[1:])

  def loss(params, train):
    logits = model.apply({"params": params}, x, train=train)
    return jnp.sum(jnp.sin(logits)), logits

  (l_t, z_t), g_t = jax.value_and_grad(loss, has_aux=True)(
    variables["params"], True
  )
  (l_i, z_i), g_i = jax.value_and_grad(loss, has_aux=True)(
    variables["params"], False
  )
  np.testing.assert_allclose(z_t, z_i, rtol=1e-6, atol=1e-6)
  for a, b in zip(jax.tree.leaves(g_t), jax.tree.leaves(g_i)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
