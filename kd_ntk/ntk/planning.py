"""Choices made before a kernel is computed: method, block sizes, compiled
functions.

Kept apart from `empirical.py` so the public functions there read as the
algorithm, and so the jitted per-block functions are built (and compiled) once
per network function and reused across blocks, calls and Monte-Carlo samples.
That reuse goes through a `kd_ntk.ntk.fn_cache.FunctionCache` (weakly keyed on
the network function, bounded), never a module-level cache that owns user
objects.
"""

import contextlib
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk.ntk import streamed
from kd_ntk.ntk.features import (
  conv_group_jacobian_fn,
  conv_jacobians_fn,
  contract_fn,
  features_fn,
  hashable,
  tap_backward_fn,
)
from kd_ntk.ntk.fn_cache import DEFAULT_CACHE, FunctionCache
from kd_ntk.ntk.ntvp import ntvp_block_fn
from kd_ntk.ntk.structure import Layers, layers_or_none

OUTPUTS = ("trace", "full", "diagonal")
METHODS = ("auto", "jacobian", "structured", "ntvp")

_GIB = 2**30
# "auto" takes "ntvp" when one example's features exceed this.
EXAMPLE_FEATURE_BYTES = _GIB // 4
# Two prepared blocks (row and column) are alive at once.
BLOCK_PAIR_BYTES = _GIB
# One kernel block (block_size² · tail) in flight.
OUT_BLOCK_BYTES = _GIB // 4
# Prepared row blocks kept at once (a panel, `kd_ntk.ntk.blocking`); all of
# them when they fit, so each block is prepared once. 2.5 GiB keeps LeNet-5x8
# at n = 4096 (5.9 MiB of features per example) within 4 GiB in all.
CACHE_BYTES = 5 * _GIB // 2
# Everything the streamed layout keeps (`kd_ntk.ntk.streamed`), its largest
# transient and the kernel; 2.5 GiB keeps LeNet-5x8 at n = 4096 within 4 GiB.
STREAM_BYTES = 5 * _GIB // 2
LAYOUTS = ("auto", "blocked", "streamed")
MAX_BLOCK = 1024
MIN_BLOCK = 8


def x64_enabled() -> bool:
  """True when JAX creates float64 arrays (jax_enable_x64)."""
  return jax.dtypes.canonicalize_dtype(jnp.float64) == np.dtype(np.float64)


def full_precision(fn):
  """Runs `fn` with every float32 matmul and convolution at full precision,
  f's own included (the setting is read whenever f is traced: for the layer
  analysis, the features and the contraction).

  Without it GPUs run them in TF32 (10-bit mantissa): Jacobian features then
  carry relative errors near 1e-3, which swamp the Gram matrix's small
  eigenvalues and so the supervision complexity Yᵀ K⁻¹ Y (on an H200 the
  Gram's largest error was 12.5% of max |K|). CPUs compute float32 at full
  precision anyway.
  """

  @functools.wraps(fn)
  def wrapped(*args, **kwargs):
    with jax.default_matmul_precision("highest"):
      return fn(*args, **kwargs)

  return wrapped


def x64_scope():
  """A context in which float64 is enabled, on old and new JAX alike.

  JAX >= 0.8 has `jax.enable_x64(True)`; older releases have
  `jax.experimental.enable_x64()`. Raises RuntimeError if neither exists.
  """
  if x64_enabled():
    return contextlib.nullcontext()
  if hasattr(jax, "enable_x64"):
    return jax.enable_x64(True)
  try:
    # pylint: disable-next=g-import-not-at-top
    from jax.experimental import enable_x64
  except ImportError as err:
    raise RuntimeError(
      "float64 accumulation needs 64-bit JAX: call "
      "jax.config.update('jax_enable_x64', True) at startup or set "
      "JAX_ENABLE_X64=1."
    ) from err
  return enable_x64()


def normalise_dtype(dtype) -> np.dtype | None:
  """None, or a floating numpy dtype; raises ValueError otherwise."""
  if dtype is None:
    return None
  dt = np.dtype(dtype)
  if not np.issubdtype(dt, np.floating):
    raise ValueError(
      f"dtype must be a floating dtype such as jnp.float64; got {dtype!r}."
    )
  return dt


class Plan(NamedTuple):
  """A resolved computation: what to run and in which pieces."""

  method: str  # "jacobian", "structured" or "ntvp"
  # Tapped layers: "structured" contracts their factors; "jacobian" only forms
  # their per-example Jacobians from them (`features_fn(expand=True)`).
  layers: Layers | None
  block_size: int
  num_logits: int
  num_params: int


def _signature(params, x_example) -> tuple:
  leaves, treedef = jax.tree_util.tree_flatten(params)
  return (
    treedef,
    tuple((tuple(leaf.shape), np.dtype(leaf.dtype).str) for leaf in leaves),
    (tuple(np.shape(x_example)), np.dtype(x_example.dtype).str),
  )


def _abstract(signature):
  treedef, leaf_specs, (x_shape, x_dtype) = signature
  params = jax.tree_util.tree_unflatten(
    treedef, [jax.ShapeDtypeStruct(s, np.dtype(d)) for s, d in leaf_specs]
  )
  return params, jax.ShapeDtypeStruct(x_shape, np.dtype(x_dtype))


def _find_layers(f, signature, num_logits: int) -> Layers | None:
  params, x_example = _abstract(signature)
  batch = jax.ShapeDtypeStruct((1,) + tuple(x_example.shape), x_example.dtype)
  check = lambda layers: jax.eval_shape(features_fn(f, layers), params, batch)
  return layers_or_none(
    f, params, x_example, num_logits=num_logits, check=check
  )


def tapped_layers(
  f, params, x_example, *, num_logits: int, cache: FunctionCache = DEFAULT_CACHE
) -> Layers | None:
  """The tapped layers of `f` (None: none, or the jaxpr could not be read);
  cached per live network function and shapes."""
  signature = _signature(params, x_example)
  return cache.get(
    f,
    ("layers", signature, num_logits),
    lambda fn: _find_layers(fn, signature, num_logits),
  )


def _feature_bytes(
  leaves, layers: Layers | None, num_logits: int, itemsize: int
) -> int:
  """Bytes of one example's features: C columns per plain parameter, plus the
  (d_in + C·d_out) factors of every tapped dense layer."""
  dense = dict(layers.leaf_taps) if layers is not None else {}
  count = 0
  for k, leaf in enumerate(leaves):
    size = math.prod(leaf.shape)
    if k in dense:
      d_in = math.prod(leaf.shape[a] for a in dense[k])
      count += d_in + num_logits * (size // d_in)
    else:
      count += num_logits * size
  return count * itemsize


def make_plan(
  f,
  params,
  x_example,
  *,
  n_max: int,
  output: str,
  method: str,
  block_size: int | None,
  dtype: np.dtype | None,
  cache: FunctionCache = DEFAULT_CACHE,
) -> Plan:
  """Resolves "auto", the tapped layers and the block size.

  "auto" is "structured" (never costlier than "jacobian": tapping only removes
  work) unless one example's features exceed `EXAMPLE_FEATURE_BYTES`, where it
  falls back to the memory-light "ntvp" (not with `dtype`, which needs
  Jacobians).
  """
  logits = jax.eval_shape(f, params, jnp.asarray(x_example)[None])
  num_logits = int(math.prod(logits.shape[1:]))
  leaves = jax.tree_util.tree_leaves(params)
  num_params = int(sum(math.prod(leaf.shape) for leaf in leaves))
  itemsize = max([np.dtype(leaf.dtype).itemsize for leaf in leaves] + [4])
  tail = {"trace": 1, "full": num_logits**2, "diagonal": num_logits}[output]
  out_itemsize = max(itemsize, dtype.itemsize if dtype is not None else 0)

  layers = (
    tapped_layers(f, params, x_example, num_logits=num_logits, cache=cache)
    if method != "ntvp"
    else None
  )
  factors = layers if method != "jacobian" else None  # "jacobian": J in full
  feature_bytes = _feature_bytes(leaves, factors, num_logits, itemsize)
  if method == "auto":
    method = (
      "structured"
      if feature_bytes <= EXAMPLE_FEATURE_BYTES or dtype is not None
      else "ntvp"
    )
  if method == "ntvp":
    layers = None

  if block_size is None:
    block_size = MAX_BLOCK if method != "ntvp" else 128
    per_block = feature_bytes if method != "ntvp" else 0
    while block_size > MIN_BLOCK and (
      2 * block_size * per_block > BLOCK_PAIR_BYTES
      or block_size**2 * tail * out_itemsize > OUT_BLOCK_BYTES
    ):
      block_size //= 2
    while block_size > MIN_BLOCK and block_size // 2 >= n_max:
      block_size //= 2  # no point padding a small input up to a large block
  return Plan(method, layers, block_size, num_logits, num_params)


def _compiled_fns(
  f,
  method: str,
  *,
  output: str,
  dtype: np.dtype | None,
  layers: Layers | None,
) -> tuple[Callable, Callable]:
  if method == "ntvp":
    block = ntvp_block_fn(f, output)
    return jax.jit(lambda params, x_block: x_block), jax.jit(block)

  # The whole block at once, from jitted pieces (`features_fn`): a `lax.map`
  # over chunks of it ran 3-4x slower on the CPU (XLA runs loop bodies with
  # less parallelism), and the block size already bounds the memory.
  prepare = features_fn(f, layers, expand=method == "jacobian")
  contract = contract_fn(output, dtype)

  def pair(params, fa, fb):
    del params  # the features already hold everything
    return contract(fa, fb)

  return prepare, jax.jit(pair)


def compiled_for(
  f,
  plan: Plan,
  *,
  output: str,
  dtype: np.dtype | None,
  cache: FunctionCache = DEFAULT_CACHE,
) -> tuple[Callable, Callable]:
  """`(prepare(params, x_block), pair(params, prepared_a, prepared_b))`, both
  built from jitted functions (`prepare` from several, see `features_fn`).

  Cached per live network function and plan, so every block of every call
  with the same shapes reuses one compilation.
  """
  key = (
    "fns",
    plan.method,
    output,
    None if dtype is None else dtype.str,
    plan.layers,
  )
  return cache.get(
    f,
    key,
    lambda fn: _compiled_fns(
      fn, plan.method, output=output, dtype=dtype, layers=plan.layers
    ),
  )


def _block_fn(
  f,
  method: str,
  *,
  output: str,
  dtype: np.dtype | None,
  layers: Layers | None,
) -> Callable:
  if method == "ntvp":
    return jax.jit(ntvp_block_fn(f, output))
  features = features_fn(f, layers, expand=method == "jacobian")
  contract = jax.jit(contract_fn(output, dtype))
  return lambda params, x_a, x_b: contract(
    features(params, x_a), features(params, x_b)
  )


def compiled_block_fn(
  f,
  plan: Plan,
  *,
  output: str,
  dtype: np.dtype | None,
  cache: FunctionCache = DEFAULT_CACHE,
) -> Callable:
  """`block(params, x_a, x_b)`, jitted pieces: features of both, contracted."""
  key = (
    "block",
    plan.method,
    output,
    None if dtype is None else dtype.str,
    plan.layers,
  )
  return cache.get(
    f,
    key,
    lambda fn: _block_fn(
      fn, plan.method, output=output, dtype=dtype, layers=plan.layers
    ),
  )


def _streamed_fns(f, layers: Layers):
  backward = tap_backward_fn(f, layers)
  group_fns = {}

  def group_jacobian(patch, channels: int):
    key = (hashable(patch), channels)  # equal convolutions compile once
    if key not in group_fns:
      group_fns[key] = conv_group_jacobian_fn(patch, channels)
    return group_fns[key]

  return backward, conv_jacobians_fn(layers), group_jacobian


def streamed_fns(f, plan: Plan, cache: FunctionCache = DEFAULT_CACHE):
  """`(backward, conv_jacobians, group_jacobian)` of the streamed layout,
  cached per live network function and tapped layers."""
  return cache.get(
    f, ("streamed", plan.layers), lambda fn: _streamed_fns(fn, plan.layers)
  )


def stream_layout(
  f,
  plan: Plan,
  params,
  *,
  n1: int,
  n2: int | None,
  output: str,
  dtype: np.dtype | None,
  x_example,
  cache: FunctionCache = DEFAULT_CACHE,
) -> tuple[streamed.StreamPlan, Any] | None:
  """(stream plan, backward shapes) when the streamed layout applies and
  fits `STREAM_BYTES`, else None ("structured" trace kernels only)."""
  if plan.method != "structured" or output != "trace" or plan.layers is None:
    return None
  backward = streamed_fns(f, plan, cache)[0]
  leaves = jax.tree_util.tree_leaves(params)
  block = jax.ShapeDtypeStruct(
    (plan.block_size,) + tuple(np.shape(x_example)), np.asarray(x_example).dtype
  )
  shapes = jax.eval_shape(backward, leaves, block)
  itemsize = max(
    [np.dtype(a.dtype).itemsize for a in jax.tree_util.tree_leaves(shapes)]
  )
  out_itemsize = max(itemsize, dtype.itemsize if dtype is not None else 0)
  rows = streamed.chunk_rows(plan.block_size)
  padded = lambda n: -(-n // rows) * rows  # chunks are zero-padded
  chosen = streamed.stream_plan(
    plan.layers,
    shapes,
    num_logits=plan.num_logits,
    n_stored=padded(n1) + (padded(n2) if n2 is not None else 0),
    out_bytes=n1 * (n2 if n2 is not None else n1) * out_itemsize,
    itemsize=itemsize,
    budget=STREAM_BYTES,
  )
  return None if chosen is None else (chosen, shapes)
