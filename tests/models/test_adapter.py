"""Any flax module as f(params, x): with or without `train`, mutable collections."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk import models
from kd_ntk.models import adapter


class NoTrain(nn.Module):
  """A user's module whose __call__ takes only x (the issue's failing case)."""

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(4, (3, 3))(x)).mean(axis=(1, 2))
    return nn.Dense(3)(x)


class Deterministic(nn.Module):
  @nn.compact
  def __call__(self, x, deterministic: bool = False):
    h = nn.Dense(8)(x)
    h = nn.Dropout(0.5)(h, deterministic=deterministic)
    return nn.Dense(3)(h)


class Counter(nn.Module):
  """Writes a collection on every call (no mode argument)."""

  @nn.compact
  def __call__(self, x):
    calls = self.variable("counters", "calls", jnp.zeros, ())
    calls.value += 1
    return nn.Dense(3)(x)


class Pair(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    logits = nn.Dense(3)(x)
    return logits, x


def test_inference_kwargs_follow_the_signature():
  assert adapter.inference_kwargs(NoTrain()) == {}
  assert adapter.inference_kwargs(Deterministic()) == {"deterministic": True}
  assert adapter.inference_kwargs(models.get_model("mlp", 10)) == {
    "train": False
  }
  with pytest.raises(TypeError, match="flax linen Module"):
    adapter.inference_kwargs(lambda x: x)


def test_a_module_without_train_works_with_every_registry_function():
  model, x = NoTrain(), np.ones((2, 6, 6, 1), np.float32)
  variables = models.init_variables(model, jax.random.PRNGKey(0), (6, 6, 1))
  f, params = models.inference_fn(model, variables)
  expected = model.apply(variables, x)
  np.testing.assert_allclose(f(params, x), expected, rtol=1e-6)
  g = models.stateful_inference_fn(model)
  np.testing.assert_allclose(
    g(models.with_state(variables), x), expected, rtol=1e-6
  )
  assert models.parameter_count(params) == 4 * 9 + 4 + 4 * 3 + 3


def test_dropout_is_off_and_the_function_is_deterministic():
  model, x = Deterministic(), np.ones((4, 5), np.float32)
  adapted = adapter.FlaxAdapter(model)
  variables = adapted.init(jax.random.PRNGKey(1), x)
  f, params = adapted.inference_fn(variables)
  np.testing.assert_array_equal(f(params, x), jax.jit(f)(params, x))
  np.testing.assert_allclose(
    f(params, x), model.apply(variables, x, deterministic=True), rtol=1e-6
  )


def test_written_collections_are_discarded_and_the_ntk_is_that_of_params():
  model, x = Counter(), np.random.default_rng(0).random((5, 4), np.float32)
  adapted = adapter.FlaxAdapter(model)
  variables = adapted.init(jax.random.PRNGKey(2), x)
  assert set(variables) == {"params", "counters"}
  f, params = adapted.inference_fn(variables)
  assert f(params, x).shape == (5, 3)
  assert adapted.mutable == ("counters",)
  from kd_ntk.ntk import empirical_ntk

  gram = empirical_ntk(f, params, x, dtype=jnp.float64)
  # A dense layer's trace NTK: C (x_i·x_j + 1).
  expected = 3 * (x.astype(np.float64) @ x.T.astype(np.float64) + 1)
  np.testing.assert_allclose(gram, expected, rtol=1e-5)


def test_output_selects_the_logits_and_a_tuple_is_refused_in_one_line():
  model, x = Pair(), np.ones((2, 4), np.float32)
  variables = models.init_variables(model, jax.random.PRNGKey(0), (4,))
  f, params = adapter.FlaxAdapter(model).inference_fn(variables)
  with pytest.raises(ValueError, match="output=lambda") as info:
    f(params, x)
  assert "\n" not in str(info.value)
  adapted = adapter.FlaxAdapter(model, output=lambda out: out[0])
  g, params = adapted.inference_fn(variables)
  assert g(params, x).shape == (2, 3)


def test_explicit_call_kwargs_replace_the_guess():
  model = Deterministic()
  adapted = adapter.FlaxAdapter(model, call_kwargs={"deterministic": False})
  assert adapted.call_kwargs == {"deterministic": False}
  with pytest.raises(ValueError, match="'params' collection"):
    adapted.inference_fn({"batch_stats": {}})


def test_as_function_takes_a_module_or_a_function():
  model = NoTrain()
  variables = models.init_variables(model, jax.random.PRNGKey(0), (6, 6, 1))
  f, params = adapter.as_function(model, variables)
  assert params is variables["params"]
  g = lambda p, x: x
  assert adapter.as_function(g, 3) == (g, 3)
  with pytest.raises(TypeError, match="f\\(params, x\\) or a flax Module"):
    adapter.as_function(3, None)
