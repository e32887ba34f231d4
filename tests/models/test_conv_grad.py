"""The row-patch filter gradient and the band input gradient against float64
loop oracles and XLA's own convolution gradients; the drop-in takes them only
for thin VALID convolutions."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from kd_ntk import models
from kd_ntk.models import conv_grad


def _loop_filter_grad(x, g, kh, kw):
  """dW[a, b, c, o] = Σ_{n,i,j} x[n, i+a, j+b, c] g[n, i, j, o] in float64."""
  x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
  _, out_h, out_w, _ = g.shape
  dw = np.zeros((kh, kw, x.shape[3], g.shape[3]))
  for a in range(kh):
    for b in range(kw):
      window = x[:, a : a + out_h, b : b + out_w, :]
      dw[a, b] = np.einsum("nijc,nijo->co", window, g)
  return dw


def _valid_out_shape(x_shape, kernel_hw, out_channels):
  """Output shape (N, Ho, Wo, O) of a stride-1 VALID NHWC convolution."""
  n, h, w, _ = x_shape
  return (n, h - kernel_hw[0] + 1, w - kernel_hw[1] + 1, out_channels)


@pytest.mark.parametrize(
  "x_shape, kernel_hw, out_channels",
  [
    ((4, 28, 28, 1), (5, 5), 6),  # LeNet-5's conv1
    ((3, 9, 7, 2), (3, 2), 5),  # odd, non-square, two channels
    ((1, 5, 5, 1), (5, 5), 1),  # the kernel covers the input
    ((2, 6, 11, 3), (1, 4), 7),  # a 1-row kernel
  ],
)
def test_row_patch_filter_grad_matches_a_float64_loop(
  x_shape, kernel_hw, out_channels
):
  kx, kg = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, x_shape)
  g = jax.random.normal(kg, _valid_out_shape(x_shape, kernel_hw, out_channels))
  ours = np.asarray(conv_grad.row_patch_filter_grad(x, g, kernel_hw))
  oracle = _loop_filter_grad(x, g, *kernel_hw)
  assert ours.shape == oracle.shape
  np.testing.assert_allclose(
    ours, oracle, rtol=0, atol=2e-6 * np.abs(oracle).max()
  )


def _loop_input_grad(g, kernel, in_hw):
  """dx[n, i+a, j+b, c] += g[n, i, j, o] W[a, b, c, o] in float64."""
  g, kernel = np.asarray(g, np.float64), np.asarray(kernel, np.float64)
  n, out_h, out_w, _ = g.shape
  kh, kw, channels, _ = kernel.shape
  dx = np.zeros((n, *in_hw, channels))
  for a in range(kh):
    for b in range(kw):
      dx[:, a : a + out_h, b : b + out_w] += np.einsum(
        "nijo,co->nijc", g, kernel[a, b]
      )
  return dx


@pytest.mark.parametrize(
  "x_shape, kernel_shape",
  [
    ((4, 12, 12, 6), (5, 5, 6, 16)),  # LeNet-5's conv2
    ((3, 7, 9, 2), (2, 3, 2, 5)),  # odd, non-square
    ((1, 4, 4, 3), (4, 4, 3, 1)),  # the kernel covers the input, one output
    ((2, 5, 8, 1), (1, 3, 1, 4)),  # a 1-row kernel
  ],
)
def test_band_input_grad_matches_a_float64_loop(x_shape, kernel_shape):
  kk, kg = jax.random.split(jax.random.PRNGKey(3))
  kernel = jax.random.normal(kk, kernel_shape)
  out_shape = _valid_out_shape(x_shape, kernel_shape[:2], kernel_shape[3])
  g = jax.random.normal(kg, out_shape)
  ours = np.asarray(conv_grad.band_input_grad(g, kernel))
  oracle = _loop_input_grad(g, kernel, x_shape[1:3])
  assert ours.shape == oracle.shape == x_shape
  np.testing.assert_allclose(
    ours, oracle, rtol=0, atol=2e-6 * np.abs(oracle).max()
  )


@pytest.mark.parametrize(
  "x_shape, kernel_shape",
  [
    ((8, 12, 10, 1), (3, 4, 1, 5)),  # row-patch dW, band dx
    ((4, 12, 12, 6), (5, 5, 6, 16)),  # XLA's dW, band dx (LeNet-5's conv2)
    # Row-patch dW with XLA's dx (conv1): the LeNet-5 test below.
  ],
)
def test_valid_conv_values_and_gradients_match_xla(x_shape, kernel_shape):
  kx, kw, kg = jax.random.split(jax.random.PRNGKey(1), 3)
  x = jax.random.normal(kx, x_shape)
  kernel = jax.random.normal(kw, kernel_shape)
  plain = lambda v, w: lax.conv_general_dilated(
    v, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  y, vjp = jax.vjp(conv_grad.valid_conv, x, kernel)
  y_ref, vjp_ref = jax.vjp(plain, x, kernel)
  np.testing.assert_array_equal(y, y_ref)
  ct = jax.random.normal(kg, y.shape)
  for ours, theirs in zip(vjp(ct), vjp_ref(ct)):
    scale = float(jnp.abs(theirs).max())
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-6 * scale)


def _takes_custom_rule(x_shape, kernel_shape, **conv):
  """Whether the drop-in routes this call through the custom rule."""
  x, w = jnp.zeros(x_shape), jnp.zeros(kernel_shape)
  call = lambda v, k: conv_grad.conv_general_dilated(v, k, **conv)
  return "custom_vjp_call" in str(jax.make_jaxpr(call)(x, w))


NHWC = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize(
  "x_shape, kernel_shape, conv, expected",
  [
    ((2, 8, 8, 1), (3, 3, 1, 4), dict(padding="VALID"), True),
    ((2, 8, 8, 1), (3, 3, 1, 4), dict(padding=((0, 0), (0, 0))), True),
    ((2, 8, 8, 6), (3, 3, 6, 16), dict(padding="VALID"), True),  # C·O = 96
    ((2, 8, 8, 6), (3, 3, 6, 17), dict(padding="VALID"), False),  # C·O > 96
    ((2, 28, 28, 6), (5, 5, 6, 16), dict(padding="VALID"), False),  # W > 4kw
    ((2, 8, 8, 1), (3, 3, 1, 4), dict(padding="SAME"), False),
    ((2, 8, 8, 1), (3, 3, 1, 4), dict(padding=((1, 1), (1, 1))), False),
    ((2, 9, 9, 1), (3, 3, 1, 4), dict(padding="VALID", strides=(2, 2)), False),
    (
      (2, 9, 9, 1),
      (3, 3, 1, 4),
      dict(padding="VALID", rhs_dilation=(2, 2)),
      False,
    ),
  ],
)
def test_drop_in_routes_only_thin_valid_convolutions(
  x_shape, kernel_shape, conv, expected
):
  conv = dict(
    window_strides=conv.pop("strides", (1, 1)), dimension_numbers=NHWC, **conv
  )
  assert _takes_custom_rule(x_shape, kernel_shape, **conv) is expected


def test_drop_in_leaves_nchw_alone():
  x, w = jnp.zeros((2, 1, 8, 8)), jnp.zeros((4, 1, 3, 3))
  call = lambda v, k: conv_grad.conv_general_dilated(
    v, k, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
  )
  assert "custom_vjp_call" not in str(jax.make_jaxpr(call)(x, w))
  np.testing.assert_array_equal(
    call(x + 1.0, w + 1.0),
    lax.conv_general_dilated(
      x + 1.0,
      w + 1.0,
      (1, 1),
      "VALID",
      dimension_numbers=("NCHW", "OIHW", "NCHW"),
    ),
  )


def test_disabled_routes_nothing():
  with conv_grad.disabled():
    assert not _takes_custom_rule(
      (2, 8, 8, 1),
      (3, 3, 1, 4),
      window_strides=(1, 1),
      padding="VALID",
      dimension_numbers=NHWC,
    )
  assert _takes_custom_rule(
    (2, 8, 8, 1),
    (3, 3, 1, 4),
    window_strides=(1, 1),
    padding="VALID",
    dimension_numbers=NHWC,
  )


def test_lenet_train_mode_gradients_match_inference_mode(name="lenet5"):
  """Train mode (custom convolution gradients, one-hot pools) and inference
  mode (XLA's convolutions, reduce_window pools) are the same function: same
  loss, and gradients equal to float32 tolerance."""
  model = models.get_model(name, 10)
  variables = models.init_variables(model, jax.random.PRNGKey(0), (28, 28, 1))
  x = jax.random.normal(jax.random.PRNGKey(1), (8, 28, 28, 1))
  labels = jnp.arange(8) % 10

  def loss(params, train):
    logits = model.apply({"params": params}, x, train=train)
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(8), labels])

  (train_loss, train_grads), (eval_loss, eval_grads) = (
    jax.value_and_grad(loss)(variables["params"], t) for t in (True, False)
  )
  assert float(train_loss) == float(eval_loss)
  for ours, theirs in zip(
    jax.tree_util.tree_leaves(train_grads),
    jax.tree_util.tree_leaves(eval_grads),
  ):
    scale = float(jnp.abs(theirs).max()) or 1.0
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * scale)
  assert "custom_vjp_call" in str(
    jax.make_jaxpr(lambda p: loss(p, True))(variables["params"])
  )


def test_flax_conv_accepts_the_drop_in():
  conv = nn.Conv(3, (2, 2), padding="VALID")
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 5, 5, 1))
  variables = conv.init(jax.random.PRNGKey(0), x)
  ours = nn.Conv(
    3,
    (2, 2),
    padding="VALID",
    conv_general_dilated=conv_grad.conv_general_dilated,
  )
  np.testing.assert_array_equal(
    ours.apply(variables, x), conv.apply(variables, x)
  )
