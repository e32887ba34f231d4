"""Every preset: output shape, parameter count, inference-mode function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk import models
from model_helpers import filled_variables

SMALL_INPUT = {
  "mlp": (28, 28, 1),
  "lenet": (28, 28, 1),
  "cnn": (28, 28, 1),
  # Any size works for MobileNet; a small one keeps XLA's compile short.
  "mobilenet": (8, 8, 3),
}
# Presets fast enough to build in a test; the big ResNets share code with resnet8.
PRESETS = [
  "mlp16",
  "mlp",
  "lenet5",
  "lenet5x8",
  "cnn_tiny",
  "cnn",
  "resnet8",
  "resnet8_nf",
  "resnet20",
  "mobilenetv3_narrow",
]


def _shape(name):
  return next(
    (s for k, s in SMALL_INPUT.items() if name.startswith(k)), (32, 32, 3)
  )


# Presets whose initialisation compiles for half a minute (eagerly, one program
# per layer shape: ~100 for MobileNet; jitted, 18-42 s): their forward pass is
# tested on variables of `init_variables`' shapes filled with scaled normals.
ABSTRACT_INIT = {"mobilenetv3_narrow"}


def _variables(model, shape, abstract: bool):
  if abstract:
    return filled_variables(model, shape)
  return models.init_variables(model, jax.random.PRNGKey(0), shape)


@pytest.mark.parametrize("name", PRESETS)
def test_output_shape_and_finite(name):
  model = models.get_model(name, 7)
  variables = _variables(model, _shape(name), name in ABSTRACT_INIT)
  f, params = models.inference_fn(model, variables)
  logits = jax.jit(f)(params, jnp.ones((3, *_shape(name))))
  assert logits.shape == (3, 7)
  assert np.all(np.isfinite(logits))
  assert np.std(logits) > 0  # Not a constant (e.g. all-zero) network.


@pytest.mark.parametrize(
  "name, expected",
  [
    # Counted by hand: 784*16+16 + 16*10+10.
    ("mlp16", 784 * 16 + 16 + 16 * 10 + 10),
    # conv1 5*5*1*6+6, conv2 5*5*6*16+16, fc 256*120+120, 120*84+84, 84*10+10.
    ("lenet5", 156 + 2416 + 30840 + 10164 + 850),
  ],
)
def test_parameter_count_closed_form(name, expected):
  model = models.get_model(name, 10)
  variables = models.init_variables(model, jax.random.PRNGKey(0), (28, 28, 1))
  assert models.parameter_count(variables["params"]) == expected


def test_resnet_depth_family_and_width():
  counts = {}
  for name in ["resnet8", "resnet20"]:
    model = models.get_model(name, 10)
    counts[name] = models.parameter_count(
      models.init_variables(model, jax.random.PRNGKey(0), (32, 32, 3))["params"]
    )
  assert counts["resnet20"] > 3 * counts["resnet8"]
  with pytest.raises(ValueError, match="6n\\+2"):
    bad = models.get_model("resnet8", 10, depth=9)
    models.init_variables(bad, jax.random.PRNGKey(0), (32, 32, 3))


def test_lenet_width_multiplier_scales_channels():
  wide = models.get_model("lenet5x8", 10)
  variables = models.init_variables(wide, jax.random.PRNGKey(0), (28, 28, 1))
  assert variables["params"]["conv1"]["kernel"].shape == (5, 5, 1, 48)
  assert variables["params"]["conv2"]["kernel"].shape == (5, 5, 48, 128)


def test_inference_fn_closes_over_batchnorm_statistics():
  model = models.get_model("resnet8", 10)
  variables = models.init_variables(model, jax.random.PRNGKey(0), (32, 32, 3))
  shifted = jax.tree_util.tree_map(lambda s: s + 1.0, variables["batch_stats"])
  f_a, params = models.inference_fn(model, variables)
  f_b, _ = models.inference_fn(model, {**variables, "batch_stats": shifted})
  x = jnp.ones((2, 32, 32, 3))
  assert not np.allclose(f_a(params, x), f_b(params, x))
  np.testing.assert_allclose(f_a(params, x), f_a(params, x))  # deterministic


def test_unknown_model_and_option_errors():
  with pytest.raises(ValueError, match="Unknown model 'vgg'"):
    models.get_model("vgg", 10)
  with pytest.raises(ValueError, match="no option"):
    models.get_model("mlp", 10, depthh=3)


def test_flops_reported():
  model = models.get_model("mlp16", 10)
  variables = models.init_variables(model, jax.random.PRNGKey(0), (28, 28, 1))
  flops = models.flops_per_example(model, variables, (28, 28, 1))
  # A dense layer costs 2*d_in*d_out FLOPs; allow for bias/ReLU bookkeeping.
  assert (
    2 * (784 * 16 + 16 * 10) <= flops <= 1.2 * 2 * (784 * 16 + 16 * 10) + 200
  )
