"""`explain(f, params, x)`: the per-layer plan of `empirical_ntk`, with its
cost.

For every parameter leaf it says how its share of

    K_ij = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩

is computed, what one example's features cost in memory, and the
floating-point operations (multiply and add counted as two) per example
and per pair of examples:

  * "dense factors" (`y = a W`): features `a_i` (D_in) and `g_ic` (C·D_out);
    per pair `2·D_in + 2·C·D_out`;
  * "conv patches·cotangents": the kernel Jacobian `patches_iᵀ g_ic`
    (C·D·O values, D = patch size, O = output channels), formed by one
    GEMM of `2·S·D·C·O` per example (S output positions); per pair `2·C·D·O`;
  * "plain Jacobian" (anything else): `vmap(jacrev)` columns, C·P values;
    per pair `2·C·P`. With method="jacobian" the tapped layers read "plain
    Jacobian (a⊗g)" and "plain Jacobian (patches·cot.)": their Jacobians
    are formed from the taps (the conv GEMM counted per example), then
    contracted in full like every other.

`explain` adds these up for a whole kernel (block padding, symmetry and the
panels of `kd_ntk.ntk.blocking`, or the row chunks of the streamed layout
`kd_ntk.ntk.streamed`, included); the benchmark divides it by the wall time
to report an achieved rate.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk.ntk import checks, planning, streamed
from kd_ntk.ntk.blocking import (
  block_slices,
  panel_blocks_for,
  prepared_blocks,
  schedule,
)


@dataclasses.dataclass(frozen=True)
class LayerPlan:
  """How one parameter leaf enters the kernel."""

  path: str
  shape: tuple
  form: str  # "dense factors", "conv patches·cotangents", "plain Jacobian ..."
  feature_floats: int  # per example
  flops_per_example: float  # forming its features (beyond the backward pass)
  flops_per_pair: float


@dataclasses.dataclass(frozen=True)
class Explanation:
  """The resolved plan of `empirical_ntk(f, params, x, ...)` and its cost."""

  method: str
  layout: str  # "blocked" or "streamed"
  compact_convs: tuple[str, ...]  # streamed: convolutions kept compact
  block_size: int
  num_logits: int
  num_params: int
  n: int
  layers: list[LayerPlan]
  feature_bytes: int  # one example, all layers
  panel_blocks: int  # row blocks kept prepared at once
  prepared_examples: (
    int  # examples whose features are computed (padding included)
  )
  gram_flops: float  # all pair contractions
  feature_flops: float  # feature forming, beyond the backward passes

  @property
  def total_flops(self) -> float:
    return self.gram_flops + self.feature_flops

  def __str__(self) -> str:
    lines = [
      f"empirical_ntk plan: method={self.method}, layout={self.layout}, "
      f"n={self.n}, C={self.num_logits}, "
      f"{self.num_params:,} parameters, block={self.block_size}, "
      f"panel={self.panel_blocks} blocks",
      f"{'parameter':<34} {'shape':<18} {'form':<26} {'floats/ex':>10} "
      f"{'MFLOP/ex':>9} {'kFLOP/pair':>10}",
    ]
    for layer in self.layers:
      lines.append(
        f"{layer.path[:34]:<34} {str(layer.shape)[:18]:<18} {layer.form:<26} "
        f"{layer.feature_floats:>10,} {layer.flops_per_example / 1e6:>9.2f} "
        f"{layer.flops_per_pair / 1e3:>10.1f}"
      )
    if self.compact_convs:
      lines.append(
        "kept compact (input + cotangents; Jacobian formed per channel "
        f"group): {', '.join(self.compact_convs)}"
      )
    lines.append(
      f"features {self.feature_bytes / 2**20:.2f} MiB/example, "
      f"{self.prepared_examples} examples prepared; "
      f"{self.gram_flops / 1e9:.1f} GFLOP contractions + "
      f"{self.feature_flops / 1e9:.1f} GFLOP feature products"
    )
    return "\n".join(lines)


def _layer_plans(params, plan: planning.Plan) -> list[LayerPlan]:
  c = plan.num_logits
  dense = dict(plan.layers.leaf_taps) if plan.layers is not None else {}
  expand = plan.method == "jacobian"  # taps form J; nothing stays factorised
  convs = {}
  if plan.layers is not None:
    start = len(plan.layers.leaf_taps)
    for k, (leaf, patch) in enumerate(plan.layers.conv_taps):
      out_shape = plan.layers.tap_shapes[start + k].shape
      convs[leaf] = math.prod(out_shape) // out_shape[patch["feature_axis"]]
  out = []
  for index, (path, leaf) in enumerate(
    jax.tree_util.tree_leaves_with_path(params)
  ):
    size = math.prod(leaf.shape)
    name = (
      "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
      or "<root>"
    )
    if index in dense and expand:
      out.append(
        LayerPlan(
          name,
          tuple(leaf.shape),
          "plain Jacobian (a⊗g)",
          c * size,
          0.0,
          2.0 * c * size,
        )
      )
    elif index in dense:
      d_in = math.prod(leaf.shape[a] for a in dense[index])
      d_out = size // d_in
      out.append(
        LayerPlan(
          name,
          tuple(leaf.shape),
          "dense factors",
          d_in + c * d_out,
          0.0,
          2.0 * (d_in + c * d_out),
        )
      )
    elif index in convs:
      positions = convs[index]
      out.append(
        LayerPlan(
          name,
          tuple(leaf.shape),
          "plain Jacobian (patches·cot.)"
          if expand
          else "conv patches·cotangents",
          c * size,
          2.0 * positions * size * c,
          2.0 * c * size,
        )
      )
    else:
      out.append(
        LayerPlan(
          name,
          tuple(leaf.shape),
          "plain Jacobian",
          c * size,
          0.0,
          2.0 * c * size,
        )
      )
  return out


def explain(
  f: Callable[[Any, jax.Array], jax.Array],
  params: Any,
  x,
  *,
  output: str = "trace",
  method: str = "auto",
  block_size: int | None = None,
  dtype=None,
  symmetric: bool = True,
  num_devices: int = 1,
  layout: str = "auto",
  cache_bytes: int | None = None,
) -> Explanation:
  """The plan `empirical_ntk(f, params, x, ...)` would follow, without running
  it.

  Args:
    f, params, x, output, method, block_size, dtype: as for `empirical_ntk`
      (only `x`'s shape and dtype are used).
    symmetric: the plan for `x2=None` (True) or for a cross kernel of x with
      an equally large x2.
    num_devices: devices the pairs would be spread over.
    layout: as for `empirical_ntk` ("auto" streams when `block_size` is
      None, one device is used and the streamed layout fits).
    cache_bytes: as for `empirical_ntk` (the blocked layout's panel size).

  Returns:
    An `Explanation`; `print(explain(...))` shows one line per parameter leaf.
  """
  checks.check_cache_bytes(cache_bytes)
  dtype = planning.normalise_dtype(dtype)
  n = len(x)
  x_example = jax.ShapeDtypeStruct(
    tuple(np.shape(x)[1:]), np.asarray(x[:1]).dtype
  )
  if block_size is not None:
    block_size = min(int(block_size), n)
  plan = planning.make_plan(
    f,
    params,
    jnp.zeros(x_example.shape, x_example.dtype),
    n_max=n,
    output=output,
    method=method,
    block_size=block_size,
    dtype=dtype,
  )
  layers = _layer_plans(params, plan)
  stream = None
  if layout == "streamed" or (
    layout == "auto" and block_size is None and num_devices == 1
  ):
    stream = planning.stream_layout(
      f,
      plan,
      params,
      n1=n,
      n2=None if symmetric else n,
      output=output,
      dtype=dtype,
      x_example=jnp.zeros(x_example.shape, x_example.dtype),
    )
  itemsize = max(
    [np.dtype(l.dtype).itemsize for l in jax.tree_util.tree_leaves(params)]
    + [4]
  )
  feature_bytes = sum(l.feature_floats for l in layers) * itemsize
  panel_blocks = panel_blocks_for(
    planning.CACHE_BYTES if cache_bytes is None else cache_bytes,
    plan.block_size * feature_bytes,
  )
  blocks = len(block_slices(n, plan.block_size))
  work = schedule(
    blocks,
    blocks,
    panel_blocks=panel_blocks,
    symmetric=symmetric,
    num_devices=num_devices,
  )
  prepared = prepared_blocks(work, symmetric)
  pairs = sum(len(rows) for p in work for _, rows in p.tasks)
  tail = {"trace": 1, "full": plan.num_logits**2, "diagonal": plan.num_logits}[
    output
  ]
  pair_flops = sum(l.flops_per_pair for l in layers) * (
    1 if output == "trace" else tail / plan.num_logits
  )
  if plan.method == "ntvp":
    pair_flops = float("nan")
  b2 = plan.block_size**2
  compact = ()
  if stream is not None:  # chunks of R rows, each prepared once
    rows = streamed.chunk_rows(plan.block_size)
    chunks = -(-n // rows)
    prepared = chunks * (1 if symmetric else 2) * rows // plan.block_size
    pairs = chunks * (chunks + 1) // 2 if symmetric else chunks**2
    pairs *= (rows // plan.block_size) ** 2  # in blocks of block_size²
    panel_blocks = 0
    conv_paths = [l.path for l in layers if l.form == "conv patches·cotangents"]
    compact = tuple(conv_paths[k] for k in stream[0].compact)
  return Explanation(
    layout="blocked" if stream is None else "streamed",
    compact_convs=compact,
    method=plan.method,
    block_size=plan.block_size,
    num_logits=plan.num_logits,
    num_params=plan.num_params,
    n=n,
    layers=layers,
    feature_bytes=feature_bytes,
    panel_blocks=panel_blocks,
    prepared_examples=prepared * plan.block_size,
    gram_flops=pairs * b2 * pair_flops,
    feature_flops=prepared
    * plan.block_size
    * sum(l.flops_per_example for l in layers),
  )
