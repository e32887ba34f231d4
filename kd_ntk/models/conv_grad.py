"""A 2-D convolution whose gradients are fast on XLA:CPU for thin layers.

XLA:CPU computes the filter gradient of a stride-1 "VALID" convolution,
dW[a, b, c, o] = Σ_{n,i,j} x[n, i+a, j+b, c] · g[n, i, j, o],
as a forward convolution of the inputs (batch as channels) with the output
gradient as a kernel (Ho × Wo wide). With one input channel, as in LeNet-5's
first layer, that runs at a few GFLOP/s: 2.3-4.2 ms at batch 128 on this
project's 2-core machine, a quarter of the whole train step, where PyTorch's
oneDNN backward-weights kernel takes 0.8 ms.

`row_patch_filter_grad` forms the same sum from one well-shaped matrix
product. Row patches R[(n, i), (a, w, c)] = x[n, i+a, w, c] take whole input
rows (kh·W·C columns; no column shifts, so R is only kh times the input), and

    M = Rᵀ · G,  G[(n, i), (j, o)] = g[n, i, j, o],
    dW[a, b, c, o] = Σ_j M[(a, j+b, c), (j, o)],

the product of a (kh·W·C) × (N·Ho) and an (N·Ho) × (Wo·O) matrix followed
by a small gather of its bands. It does W/kw times the minimal arithmetic,
but as one GEMM: 1.3-1.5 ms for LeNet-5's conv1 at batch 128, and closer to a
float64 oracle (6e-7 against XLA's 4e-6 relative).

`band_input_grad` does the same for the input gradient of a layer with few
channels on both sides (LeNet-5's conv2, 6 → 16), which XLA:CPU runs as a
transposed convolution at about 15 GFLOP/s:

    T = G · B,  B[(j, o), (a, w, c)] = W[a, w-j, c, o] (0 if w-j ∉ [0, kw)),
    dx[n, i+a, w, c] = Σ_a T[(n, i), (a, w, c)],

one GEMM against a banded (Wo·O) × (kh·W·C) matrix built from the kernel,
then kh shifted row sums: 0.8-0.9 ms against XLA's 1.3 ms for conv2 at
batch 128. It too does W/kw times the minimal arithmetic, which loses once
channels grow (C·O = 512: 4.2 against 2.5 ms) or W/kw does (28×28 inputs,
3×3 kernel: 5.4 against 4.5 ms); hence the limits below.

`conv_general_dilated` is a drop-in for `lax.conv_general_dilated` (flax's
`nn.Conv(conv_general_dilated=...)`). On the CPU backend, stride-1, undilated,
ungrouped NHWC/HWIO "VALID" convolutions within those limits take the custom
gradients; every other gradient is XLA's, and every other call goes to
`lax.conv_general_dilated` unchanged. The custom rule is reverse-mode only
(`jax.custom_vjp`): models use it in train mode, where only gradients are
taken, and plain convolutions otherwise.
"""

import contextlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

_SPEC = ("NHWC", "HWIO", "NHWC")
# Input channels up to which the row-patch filter gradient is used. Measured
# on the LeNet-5 train step (batch 128, paired rounds, one process): with it
# on conv1 (1 channel) the step ran 1.09x [1.01, 1.18] as fast (1.08-1.11x in
# `experiments/benchmarks/bench_train.py --conv_grad_ab`); on conv2 (6 channels)
# too, only 1.05x [0.97, 1.13], so conv2 alone made it slower.
MAX_CHANNELS = 1
# The band input gradient is used where C·O ≤ BAND_MAX_CHANNEL_PRODUCT and
# W ≤ BAND_MAX_WIDTH_PER_TAP · kw (the arithmetic it wastes): the limits of
# the measurements in the module docstring. LeNet-5's conv2 (C·O = 96, W/kw =
# 2.4) takes it: the train step ran about 1.06-1.09x as fast, paired rounds.
BAND_MAX_CHANNEL_PRODUCT = 96
BAND_MAX_WIDTH_PER_TAP = 4


@contextlib.contextmanager
def disabled():
  """Within it, newly traced convolutions take XLA's gradients throughout
  (the in-process reference of
  `experiments/benchmarks/bench_train.py --conv_grad_ab`)."""
  global MAX_CHANNELS, BAND_MAX_CHANNEL_PRODUCT
  saved = MAX_CHANNELS, BAND_MAX_CHANNEL_PRODUCT
  MAX_CHANNELS, BAND_MAX_CHANNEL_PRODUCT = 0, 0
  try:
    yield
  finally:
    MAX_CHANNELS, BAND_MAX_CHANNEL_PRODUCT = saved


def _row_patch_pays(x_shape) -> bool:
  return x_shape[3] <= MAX_CHANNELS


def _band_pays(x_shape, kernel_shape) -> bool:
  _, kw, channels, out_c = kernel_shape
  return (
    channels * out_c <= BAND_MAX_CHANNEL_PRODUCT
    and x_shape[2] <= BAND_MAX_WIDTH_PER_TAP * kw
  )


def _valid_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return lax.conv_general_dilated(
    x, kernel, (1, 1), "VALID", dimension_numbers=_SPEC
  )


def row_patch_filter_grad(
  x: jax.Array, g: jax.Array, kernel_hw: Sequence[int]
) -> jax.Array:
  """dW (kh, kw, C, O) of a stride-1 VALID NHWC convolution (module docstring).

  Args:
    x: inputs (N, H, W, C).
    g: cotangent of the outputs (N, H-kh+1, W-kw+1, O).
    kernel_hw: (kh, kw).
  """
  kh, kw = kernel_hw
  n, _, width, channels = x.shape
  _, out_h, out_w, out_c = g.shape
  rows = jnp.stack([x[:, a : a + out_h] for a in range(kh)], axis=2)
  rows = rows.reshape(n * out_h, kh * width * channels)
  m = jnp.dot(
    rows.T, g.reshape(n * out_h, out_w * out_c), precision=lax.Precision.HIGHEST
  ).reshape(kh, width, channels, out_w, out_c)
  j = jnp.arange(out_w)
  # bands[b, j, a, c, o] = M[a, j + b, c, j, o]
  bands = m[:, j[None, :] + jnp.arange(kw)[:, None], :, j[None, :], :]
  return bands.sum(axis=1).transpose(1, 0, 2, 3)


def band_input_grad(g: jax.Array, kernel: jax.Array) -> jax.Array:
  """dx (N, H, W, C) of a stride-1 VALID NHWC convolution (module docstring).

  Args:
    g: cotangent of the outputs (N, Ho, Wo, O).
    kernel: the HWIO kernel (kh, kw, C, O).
  """
  n, out_h, out_w, out_c = g.shape
  kh, kw, channels, _ = kernel.shape
  width = out_w + kw - 1
  b = jnp.arange(width)[None, :] - jnp.arange(out_w)[:, None]  # w - j
  taps = kernel.transpose(1, 3, 0, 2)[jnp.clip(b, 0, kw - 1)]  # j,w,o,a,c
  inside = ((b >= 0) & (b < kw))[:, :, None, None, None]
  band = jnp.where(inside, taps, 0).transpose(0, 2, 3, 1, 4)  # j,o,a,w,c
  t = jnp.dot(
    g.reshape(n * out_h, out_w * out_c),
    band.reshape(out_w * out_c, kh * width * channels),
    precision=lax.Precision.HIGHEST,
  ).reshape(n, out_h, kh, width, channels)
  return sum(
    jnp.pad(t[:, :, a], ((0, 0), (a, kh - 1 - a), (0, 0), (0, 0)))
    for a in range(kh)
  )


@jax.custom_vjp
def valid_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 VALID NHWC/HWIO convolution whose gradients take the row-patch
  and band forms where their limits allow (XLA's otherwise)."""
  return _valid_conv(x, kernel)


def _valid_conv_fwd(x, kernel):
  return _valid_conv(x, kernel), (x, kernel)


def _valid_conv_bwd(residuals, g):
  x, kernel = residuals
  if _band_pays(x.shape, kernel.shape):
    dx = band_input_grad(g, kernel).astype(x.dtype)
  else:
    (dx,) = jax.vjp(lambda v: _valid_conv(v, kernel), x)[1](g)
  if _row_patch_pays(x.shape):
    dw = row_patch_filter_grad(x, g, kernel.shape[:2]).astype(kernel.dtype)
  else:
    (dw,) = jax.vjp(lambda k: _valid_conv(x, k), kernel)[1](g)
  return dx, dw


valid_conv.defvjp(_valid_conv_fwd, _valid_conv_bwd)


def _is_thin_valid(lhs, rhs, *, strides, padding, lhs_d, rhs_d, dims, groups):
  """Whether a call is a stride-1, undilated, ungrouped, unpadded NHWC/HWIO
  convolution for which one of the custom gradients pays."""
  if lhs.ndim != 4 or dims is None or groups != 1:
    return False
  if tuple(strides) != (1, 1) or any(
    d is not None and tuple(d) != (1, 1) for d in (lhs_d, rhs_d)
  ):
    return False
  unpadded = padding == "VALID" or (
    not isinstance(padding, str) and [tuple(p) for p in padding] == [(0, 0)] * 2
  )
  given = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dims)
  nhwc = lax.conv_dimension_numbers(lhs.shape, rhs.shape, _SPEC)
  return (
    unpadded
    and given == nhwc
    and (_row_patch_pays(lhs.shape) or _band_pays(lhs.shape, rhs.shape))
  )


def conv_general_dilated(
  lhs: jax.Array,
  rhs: jax.Array,
  window_strides: Sequence[int],
  padding: Any,
  *,
  lhs_dilation: Any = None,
  rhs_dilation: Any = None,
  dimension_numbers: Any = None,
  feature_group_count: int = 1,
  batch_group_count: int = 1,
  precision: Any = None,
  preferred_element_type: Any = None,
) -> jax.Array:
  """`lax.conv_general_dilated`, with `valid_conv` where it applies."""
  if (
    jax.default_backend() == "cpu"
    and batch_group_count == 1
    and precision is None
    and preferred_element_type is None
    and _is_thin_valid(
      lhs,
      rhs,
      strides=window_strides,
      padding=padding,
      lhs_d=lhs_dilation,
      rhs_d=rhs_dilation,
      dims=dimension_numbers,
      groups=feature_group_count,
    )
  ):
    return valid_conv(lhs, rhs)
  return lax.conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=lhs_dilation,
    rhs_dilation=rhs_dilation,
    dimension_numbers=dimension_numbers,
    feature_group_count=feature_group_count,
    batch_group_count=batch_group_count,
    precision=precision,
    preferred_element_type=preferred_element_type,
  )
