"""The empirical neural tangent kernel of any `f(params, x)`, blocked.

    K_ij      = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩  ("trace", n1 x n2)
    K_ij^{cd} = ⟨∂f_c(x_i)/∂θ, ∂f_d(x_j)/∂θ⟩      ("full", n1 x n2 x C x C)
    K_ij^{c}  = ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩      ("diagonal", n1 x n2 x C)

The trace is the *sum* over logits; `trace_reduction="mean"` divides it by C,
neural-tangents' convention (`trace_axes=(-1,)` returns the mean, C times less;
`kd_ntk.ntk.conventions`). The kernel `K` of Harutyunyan et al.
(ICLR 2023, "Supervision Complexity and its Role in Knowledge Distillation")
is the "trace" Gram matrix of the student at its current parameters.

Methods (all exact; they differ in time and memory):
  * "jacobian": per-example Jacobian blocks, one matrix product per block
    pair, K_ij = Σ_c ⟨J_ic, J_jc⟩. The Jacobians of the dense and convolution
    kernels that the jaxpr reader finds are formed from the layer taps below
    (a ⊗ g_c, patchesᵀ g_c); every other parameter's by `vmap(jacrev)`.
  * "structured": per-layer. A weight entering through a dense contraction
    (`y = a W`) is kept factorised, `∂f_c/∂W = a ⊗ g_c`, with `a` and `g_c`
    read off the forward and backward passes, so its share costs
    `d_in + C·d_out` per pair instead of `C·d_in·d_out`; a convolution's
    backward pass forms only its output cotangents `g_c` (XLA's own
    transposed convolution) and its kernel Jacobian is formed afterwards as
    `patchesᵀ g_c` (one GEMM per example) rather than by per-example kernel
    gradients (grouped convolutions, slow on the CPU). Layers are found in the
    jaxpr of `f` (`kd_ntk.ntk.structure`, the one module that reads jaxprs);
    every other parameter (tied, scaled, transposed or grouped weights, ...)
    takes the "jacobian" path, so any `f` works. `kd_ntk.ntk.explain` prints the
    per-layer plan and its cost.
  * "ntvp": NTK-vector products; never stores a Jacobian (slowest).
  * "auto": "structured" unless one example's features exceed the memory
    budget (`kd_ntk.ntk.planning.EXAMPLE_FEATURE_BYTES`), then "ntvp".

Layouts ("structured" trace kernels on one device stream by default):
  * "blocked": rows and columns in blocks of `block_size` examples, the last
    block zero-padded so the jitted per-block functions compile once;
    symmetric kernels compute blocks J >= I only; row blocks are kept a
    panel at a time so each column block is prepared once per panel; the
    work is spread over `devices`. See `kd_ntk.ntk.blocking`.
  * "streamed": every example's backward pass runs once, its results are
    kept (large convolutions compactly, as input and output cotangents) and
    the kernel is summed over parameters in large row-chunk products. See
    `kd_ntk.ntk.streamed`.
"""

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from kd_ntk import distributed
from kd_ntk.ntk import checks, conventions, planning, streamed
from kd_ntk import symmetry
from kd_ntk.ntk.blocking import blocked_gram
from kd_ntk.ntk.fn_cache import FunctionCache
from kd_ntk.ntk.planning import METHODS, OUTPUTS, x64_scope


def _mirror(output: str) -> Callable[[np.ndarray], np.ndarray]:
  """K(b, a) from K(a, b): swap examples, and logits for "full"."""
  if output == "full":
    return lambda block: block.transpose(1, 0, 3, 2)
  if output == "diagonal":
    return lambda block: block.transpose(1, 0, 2)
  return lambda block: block.T


@conventions.with_trace_reduction
@planning.full_precision
def empirical_ntk(
  f: Callable[[Any, jax.Array], jax.Array],
  params: Any,
  x1,
  x2=None,
  *,
  output: str = "trace",
  method: str = "auto",
  block_size: int | None = None,
  dtype=None,
  progress: bool = False,
  devices: Sequence[jax.Device] | None = None,
  cache: FunctionCache | None = None,
  layout: str = "auto",
  cache_bytes: int | None = None,
  trace_reduction: str = "sum",
) -> np.ndarray:
  """The empirical NTK Gram matrix of `f` at `params`, computed block by block.

      K_ij = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩     (the trace: a sum over logits)

  Args:
    f: any function `f(params, x) -> logits (B, C)` (e.g. from
      `kd_ntk.models.inference_fn`); examples must not interact (inference
      mode). Axes after the batch axis are flattened into C.
    params: pytree of floating-point parameters θ.
    x1: inputs (n1, ...), numpy or JAX.
    x2: inputs (n2, ...) with the same per-example shape, or None for the
      symmetric Gram matrix of x1 (each off-diagonal block computed once).
    output: "trace" (n1, n2), the sum over logits; "full" (n1, n2, C, C);
      "diagonal" (n1, n2, C), the c = c' terms.
    method: "auto", "jacobian", "structured" or "ntvp" (see the module doc).
    block_size: examples per row/column block (None: chosen from the memory
      budgets in `kd_ntk.ntk.planning`; capped at the number of examples).
      The last block is padded, so any size works and nothing recompiles.
    dtype: None to accumulate in the Jacobian's dtype, or e.g. jnp.float64 to
      cast Jacobian blocks (or their factors) before every product. float64 is
      enabled for the contraction only if jax_enable_x64 is off.
    progress: write "blocks done / total, elapsed, ETA" lines to stderr.
    devices: devices to spread the block pairs over (None: all devices,
      those of every process in a multi-process run, where each process
      computes its share and the parts are summed so that every process
      returns the whole matrix); the result does not depend on them.
    cache: where the jaxpr analysis and compiled block functions are kept
      between calls (None: `kd_ntk.ntk.fn_cache.DEFAULT_CACHE`, weakly keyed
      on `f`, so it never keeps `f` or what it closes over alive).
    layout: "blocked" (pairs of example blocks, `kd_ntk.ntk.blocking`),
      "streamed" (every backward pass once, the kernel summed over
      parameters, `kd_ntk.ntk.streamed`; "structured" trace kernels on one
      device, within `planning.STREAM_BYTES`) or "auto": streamed when it
      applies and fits, `block_size` is None and one device is used, else
      blocked.
    cache_bytes: memory for the prepared row blocks the blocked layout keeps
      at once, per device (None: `planning.CACHE_BYTES`, 2.5 GiB). More
      memory means longer panels and fewer column blocks prepared again:
      LeNet-5's Jacobian path at n = 4096 prepares 37 blocks of 256
      examples with 2.5 GiB and 18 with 6 GiB. The result does not depend on it.
    trace_reduction: "sum" (default; the paper's K) or "mean" (K / C,
      neural-tangents' `empirical_ntk_fn(f, trace_axes=(-1,))`); "trace" only.

  Returns:
    A numpy array of the accumulation dtype (float32 by default, float64 with
    `dtype=jnp.float64`), ready for a float64 solve after `.astype`.
  """
  checks.validate(x1, x2, output=output, method=method, block_size=block_size)
  checks.check_cache_bytes(cache_bytes)
  if layout not in planning.LAYOUTS:
    raise ValueError(
      f"Unknown layout {layout!r}; choose one of {planning.LAYOUTS}."
    )
  dtype = planning.normalise_dtype(dtype)
  devices = _devices(devices)
  cache = planning.DEFAULT_CACHE if cache is None else cache
  x_example = np.asarray(x1[0])
  checks.check_batch_output(f, params, x_example)
  checks.check_finite(params, x1, x2)
  n_max = max(len(x1), 0 if x2 is None else len(x2))
  chosen_block = block_size
  if block_size is not None:
    block_size = min(int(block_size), n_max)  # never pad beyond the data
  plan = planning.make_plan(
    f,
    params,
    x_example,
    n_max=n_max,
    output=output,
    method=method,
    block_size=block_size,
    dtype=dtype,
    cache=cache,
  )
  if plan.method == "ntvp" and dtype is not None:
    raise ValueError(
      "dtype casts Jacobian blocks, which method='ntvp' never "
      "forms; use method='jacobian' or 'structured', or pass "
      "float64 params under jax_enable_x64."
    )
  if layout == "streamed" or (
    layout == "auto" and chosen_block is None and len(devices) == 1
  ):
    stream = planning.stream_layout(
      f,
      plan,
      params,
      n1=len(x1),
      n2=None if x2 is None else len(x2),
      output=output,
      dtype=dtype,
      x_example=x_example,
      cache=cache,
    )
    if stream is not None:
      backward, conv_jacobians, group_jacobian = planning.streamed_fns(
        f, plan, cache
      )
      return _symmetric_if_self(
        x2,
        streamed.streamed_gram(
          backward,
          conv_jacobians,
          group_jacobian,
          layers=plan.layers,
          leaves=jax.device_put(
            jax.tree_util.tree_leaves(params), _first_local(devices)
          ),
          x1=x1,
          x2=x2,
          plan=stream[0],
          shapes=stream[1],
          block_size=plan.block_size,
          dtype=dtype,
          precision_scope=lambda: _precision_scope(dtype),
          progress=progress,
        ),
      )
    if layout == "streamed":
      raise ValueError(
        "layout='streamed' needs method 'structured' (or 'auto' choosing "
        "it) with tapped layers, output='trace', and its kept features "
        "within planning.STREAM_BYTES; use layout='blocked' or 'auto'."
      )
  prepare_jit, pair_jit = planning.compiled_for(
    f, plan, output=output, dtype=dtype, cache=cache
  )
  local = [
    k for k, d in enumerate(devices) if d.process_index == jax.process_index()
  ]
  if not local:
    raise ValueError(
      "devices holds none of this process's devices; pass some of "
      "jax.local_devices(), or None for every process's devices."
    )
  params = _host_if_global(params)
  params_on = {k: jax.device_put(params, devices[k]) for k in local}

  def prepare(x_block, device: int):
    return prepare_jit(
      params_on[device], jax.device_put(x_block, devices[device])
    )

  def pair(a, b, device: int):
    with _precision_scope(dtype):
      return pair_jit(params_on[device], a, b)

  tail = {
    "trace": (),
    "full": (plan.num_logits,) * 2,
    "diagonal": (plan.num_logits,),
  }[output]
  with _precision_scope(dtype):
    prepared = jax.eval_shape(
      prepare_jit, params, _zero_block(x1, plan.block_size)
    )
    probe = jax.eval_shape(pair_jit, params, prepared, prepared)
  gram = blocked_gram(
    prepare,
    pair,
    _mirror(output),
    x1=x1,
    x2=x2,
    block_size=plan.block_size,
    tail_shape=tail,
    out_dtype=np.dtype(probe.dtype),
    cache_bytes=planning.CACHE_BYTES if cache_bytes is None else cache_bytes,
    num_devices=len(devices),
    to_device=lambda tree, d: jax.device_put(tree, devices[d]),
    progress=progress,
    label=f"ntk[{plan.method}]",
    local=local,
  )
  if len(local) < len(
    devices
  ):  # Each process computed disjoint blocks; the rest are 0.
    scope = (
      x64_scope() if gram.dtype == np.float64 else contextlib.nullcontext()
    )
    with scope:  # Keeps float64 float64 on the way through the devices.
      gram = distributed.sum_over_processes(gram)
  return _symmetric_if_self(x2, gram)


def _symmetric_if_self(x2, gram: np.ndarray) -> np.ndarray:
  """x against itself: exactly symmetric (`kd_ntk.symmetry`)."""
  return gram if x2 is not None else symmetry.symmetrize_(gram)


def _host_if_global(params):
  """Arrays that span other processes' devices (replicated parameters of a
  multi-process run) as host copies, so they can be put on one local device."""

  def host(leaf):
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
      # Replicated: every process holds the whole value.
      return np.asarray(leaf)
    return leaf

  return jax.tree_util.tree_map(host, params)


def _devices(devices) -> list[jax.Device]:
  """The devices to use: all (of every process) by default; never empty."""
  if devices is None:
    return sorted(jax.devices(), key=lambda d: d.process_index)
  devices = list(devices)
  if not devices or not all(isinstance(d, jax.Device) for d in devices):
    raise ValueError(
      "devices must be a non-empty sequence of jax.Device, e.g. "
      f"jax.local_devices(); got {devices!r}."
    )
  return devices


def _first_local(devices: Sequence[jax.Device]) -> jax.Device:
  """This process's first device among `devices` (the streamed layout's)."""
  for d in devices:
    if d.process_index == jax.process_index():
      return d
  raise ValueError(
    "devices holds none of this process's devices; pass some of "
    "jax.local_devices(), or None for every process's devices."
  )


def _zero_block(x, block_size: int) -> np.ndarray:
  """A zero block of the right shape and dtype, for shape inference."""
  return np.zeros(
    (block_size,) + tuple(np.shape(x)[1:]), np.asarray(x[:1]).dtype
  )


def _precision_scope(dtype: np.dtype | None):
  """float64 around the contraction only when it accumulates in float64."""
  if dtype is not None and dtype.itemsize == 8:
    return x64_scope()
  return contextlib.nullcontext()


def ntk_block_fn(
  f: Callable[[Any, jax.Array], jax.Array],
  *,
  output: str = "trace",
  method: str = "structured",
  dtype=None,
) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
  """A jitted `kernel(params, x_a, x_b) -> block` for your own blocking.

      block_ij = Σ_c ⟨∂f_c(x_a[i])/∂θ, ∂f_c(x_b[j])/∂θ⟩   (for output="trace")

  Compiled once per input shapes and reused on later calls (keep the block
  shapes fixed, e.g. by padding, to avoid recompiling). `dtype=jnp.float64`
  needs jax_enable_x64 (or run the call inside `kd_ntk.ntk.x64_scope()`).

  Returns:
    A function returning a JAX array: (Ba, Bb), (Ba, Bb, C, C) or (Ba, Bb, C).
  """
  if output not in OUTPUTS:
    raise ValueError(f"Unknown output {output!r}; choose one of {OUTPUTS}.")
  if method not in METHODS:
    raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
  dtype = planning.normalise_dtype(dtype)
  cache = FunctionCache()  # owned by (and dropped with) the returned kernel

  @planning.full_precision
  def kernel(params, x_a, x_b):
    if tuple(np.shape(x_a)[1:]) != tuple(np.shape(x_b)[1:]):
      raise ValueError(
        "x_a and x_b must have the same per-example shape; got "
        f"{tuple(np.shape(x_a)[1:])} and {tuple(np.shape(x_b)[1:])}."
      )
    plan = planning.make_plan(
      f,
      params,
      x_a[0],
      n_max=len(x_a),
      output=output,
      method=method,
      block_size=len(x_a),
      dtype=dtype,
      cache=cache,
    )
    block = planning.compiled_block_fn(
      f, plan, output=output, dtype=dtype, cache=cache
    )
    with _precision_scope(dtype):
      return block(params, x_a, x_b)

  return kernel
