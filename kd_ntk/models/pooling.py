"""Max pooling whose backward pass is fast on XLA:CPU.

`flax.linen.max_pool` lowers to `reduce_window_max`, whose derivative XLA
computes with `select_and_scatter_add`: on the CPU backend a scalar loop.
Measured on this project's 2-core machine (batch 128, forward + backward):
2.8 ms for LeNet-5's first pool (24x24x6) against 1.0 ms for the one-hot
form below, and 50 ms against 2 ms for the 28x28x32 pool of the `cnn` preset.
In the LeNet-5 train step that pool backward was a quarter of the step's time.

Both forms here compute the same function when the windows tile the input
(stride = window, no padding; one exception for infinities, below),
y = max_k x_k over each window, and send the
whole cotangent of a window to its *first* maximum in row-major order, the
same rule as JAX's own `reduce_window_max` derivative, ties included
(tests/models/test_pooling.py compares both with flax):

* `first_max_pool` (2-D, NHWC; what the models train with on XLA:CPU's
  legacy runtime, `kd_ntk.xla_cpu`, i.e. on JAX 0.5.x): the input is
  reshaped, for free, to (B, H/h, h, W/w, w, C); the forward pass is a chain
  of elementwise maxima over the h·w strided slices, and a `custom_jvp` gives
  the tangent Σ_k t_k · [k = first argmax], so the backward pass is one select
  in the input's own layout. LeNet-5's train step ran 1.17x [1.12, 1.22] and
  1.18x [1.10, 1.26] as fast as with the one-hot form (25 paired rounds each),
  1.08x [1.02, 1.13] twice in `experiments/benchmarks/bench_train.py --pool_ab`;
  the `cnn` preset's step 0.99x [0.93, 1.06]. On XLA's thunk runtime (JAX
  0.10.2) the LeNet-5 step ran at 0.82-0.90x of the one-hot form: XLA fuses the
  whole chain (ReLU, window maxima, first index) into the backward select and
  evaluates it once per input element instead of once per window.
* `tiled_max_pool` (any rank; the training form everywhere else, and the NTK
  engine's stand-in for `reduce_window_max`, `kd_ntk.ntk.structure`):
  windows laid out on a trailing axis, the first maximum found with `argmax`
  and picked with a one-hot mask, y = Σ_k x_k · [k = argmax_j x_j]. Plain
  JAX, no custom rule; a window holding an infinity that is not its first
  maximum gives NaN (0 · inf), where `first_max_pool` and flax give the max.

Both cost more than `reduce_window_max` in a forward pass alone (3x for the
one-hot form on LeNet-5's first pool), so models use them only where they are
differentiated for training (`max_pool(..., for_training=True)`) and keep
`reduce_window_max` for inference, where all give the same values.
"""

import functools
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from kd_ntk import xla_cpu


def tiles(shape: Sequence[int], window: Sequence[int], padding: str) -> bool:
  """Whether `window`-sized windows with stride = window cover `shape` with
  no padding (every dimension divisible, or "VALID", which drops the rest)."""
  if padding == "VALID":
    return True
  return padding == "SAME" and all(d % w == 0 for d, w in zip(shape, window))


def tiled_max_pool(x: jax.Array, window: Sequence[int]) -> jax.Array:
  """Max over non-overlapping windows (stride = window) of every axis of x,
  as reshape + one-hot of the first maximum (see the module docstring).

  Args:
    x: any array; trailing elements that do not fill a window are dropped
      ("VALID" pooling).
    window: window size along every axis of x (1 for an axis not pooled).

  Returns:
    Array of shape `[d // w for d, w in zip(x.shape, window)]`.
  """
  out = [d // w for d, w in zip(x.shape, window)]
  x = x[tuple(slice(0, o * w) for o, w in zip(out, window))]
  split = [s for o, w in zip(out, window) for s in (o, w)]
  rank = len(out)
  xw = jnp.transpose(
    x.reshape(split),
    [2 * a for a in range(rank)] + [2 * a + 1 for a in range(rank)],
  ).reshape(tuple(out) + (-1,))
  first = jax.lax.stop_gradient(jnp.argmax(xw, axis=-1))
  onehot = jax.nn.one_hot(first, xw.shape[-1], dtype=xw.dtype)
  return jnp.sum(xw * onehot, axis=-1)


def _windows(x: jax.Array, window: tuple[int, int]) -> jax.Array:
  """NHWC x cropped to whole windows, as (B, H/h, h, W/w, w, C) (a bitcast)."""
  (h, w), (b, height, width, c) = window, x.shape
  ho, wo = height // h, width // w
  return x[:, : ho * h, : wo * w].reshape(b, ho, h, wo, w, c)


def _max_and_first(xr: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Each window's maximum and the row-major index k = a·w + b of its first
  maximum (the first NaN if it holds one, as `argmax`), xr from `_windows`."""
  h, w = xr.shape[2], xr.shape[4]
  taps = [xr[:, :, a, :, b, :] for a in range(h) for b in range(w)]
  top = functools.reduce(jnp.maximum, taps)
  first = jnp.full(top.shape, len(taps) - 1, jnp.int32)
  for k in reversed(range(len(taps) - 1)):
    first = jnp.where((taps[k] == top) | jnp.isnan(taps[k]), k, first)
  return top, first


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def first_max_pool(x: jax.Array, window: tuple[int, int]) -> jax.Array:
  """2-D max pooling of NHWC x over tiling `window`s (stride = window,
  "VALID"), derivative to each window's first maximum (module docstring).

  Returns:
    Array of shape (B, H // h, W // w, C); the values of `nn.max_pool`.
  """
  return _max_and_first(_windows(x, window))[0]


@first_max_pool.defjvp
def _first_max_pool_jvp(window, primals, tangents):
  """ẏ = Σ_k ẋ_k · [k = first argmax], in the input's (B, H/h, h, W/w, w, C)
  layout, so its transpose (the backward pass) needs no transpose of x."""
  (x,), (x_dot,) = primals, tangents
  h, w = window
  first = _max_and_first(_windows(x, window))[1]
  k = (jnp.arange(h)[:, None] * w + jnp.arange(w)).reshape(1, 1, h, 1, w, 1)
  picked = first[:, :, None, :, None, :] == k
  # The primal through the custom rule again, so higher derivatives keep it.
  y = first_max_pool(x, window)
  return y, jnp.sum(jnp.where(picked, _windows(x_dot, window), 0), axis=(2, 4))


def max_pool(
  x: jax.Array,
  window: tuple[int, int],
  padding: str = "VALID",
  *,
  for_training: bool,
) -> jax.Array:
  """2-D max pooling of NHWC `x` with stride = window, as `nn.max_pool`.

  With `for_training=True` and windows that tile the input, the form of
  `training_form()` (same values, same derivative, fast backward pass on the
  CPU); otherwise `nn.max_pool` (`reduce_window_max`, faster when only
  evaluated).
  """
  if for_training and tiles(x.shape[1:3], window, padding):
    return training_form()(x, tuple(window))
  return nn.max_pool(x, window, strides=window, padding=padding)


def one_hot_pool(x: jax.Array, window: tuple[int, int]) -> jax.Array:
  """`tiled_max_pool` of NHWC x over 2-D `window`s (as `first_max_pool`)."""
  return tiled_max_pool(x, (1, *window, 1))


def training_form() -> Callable[[jax.Array, tuple[int, int]], jax.Array]:
  """The training pool for the runtime in force when a model is traced:
  `first_max_pool` on XLA:CPU's legacy runtime, where it was measured faster,
  `one_hot_pool` elsewhere (module docstring). Both give the same values and
  derivatives, so results do not depend on the choice."""
  if jax.default_backend() == "cpu" and xla_cpu.legacy_runtime_in_force():
    return first_max_pool
  return one_hot_pool
