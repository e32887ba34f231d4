"""The one module that reads jaxprs: where parameters enter the network.

For a parameter `W` that enters the network once, through a contraction with
one input row per example (a dense layer `y = x W`, also `DenseGeneral` and
`einsum` forms), the Jacobian of logit `c` at example `i` factorises:

    ∂f_c(x_i)/∂W = a_i ⊗ g_ic,    a_i = the layer input,  g_ic = ∂f_c(x_i)/∂y.

Its share of the kernel is then `Σ_c ⟨a_i, a_j⟩⟨g_ic, g_jc⟩`, which costs
`d_in + C·d_out` per pair of examples instead of `C·d_in·d_out` (the
"structured" method of `kd_ntk.ntk.empirical_ntk`), and `a_i`, `g_ic` are read
off the forward and backward passes (`tapped_fn`) without ever forming `∂f/∂W`.

A convolution kernel `K` used once with one example per call has the
Jacobian `∂f_c/∂K = Σ_p patch_p(a_i) ⊗ g_icp`, a sum over output positions:
not an outer product, but one matrix product of the input patches with the
output cotangents, much cheaper than the per-example kernel gradient that
`vmap(jacrev)` computes with grouped convolutions.

Fallback: `layers_or_none` is the entry point; any exception while reading
or re-evaluating the jaxpr (a JAX whose internals moved, a primitive that
cannot be re-bound) gives None and a warning, and every parameter then takes
the plain Jacobian path. Anything not recognised (a weight used twice, used
transposed, scaled, grouped convolutions, ...) is simply left untapped: a
missed layer costs time, never correctness.

JAX internals relied on (all reached through `jax.make_jaxpr` objects and
`jax.extend.core`; stable from JAX 0.4.3x to 0.8+ but not public API):
  * `ClosedJaxpr.jaxpr` / `.consts`; `Jaxpr.invars`, `.outvars`, `.eqns`,
    `.constvars`; `Var.aval.shape` / `.dtype`; `jax.extend.core.Literal.val`;
  * `JaxprEqn.primitive` (`.name`, `.multiple_results`, `.bind`,
    `.get_bind_params`), `.params`, `.invars`, `.outvars`;
  * primitive names "dot_general", "conv_general_dilated", the casts below
    and the call-like primitives below (bodies under params "jaxpr" or
    "call_jaxpr"), and the params `dimension_numbers` (with `lhs_spec`,
    `rhs_spec`, `out_spec` for convolutions), `window_strides`, `padding`,
    `lhs_dilation`, `rhs_dilation`, `feature_group_count`,
    `batch_group_count`.
"""

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
from jax.extend.core import Literal

from kd_ntk.models import pooling

# Call-like primitives whose body is differentiated as written, so a parameter
# can be followed inside positionally ("pjit" became "jit" in newer JAX).
# Custom-derivative calls are deliberately absent: their JVP rule, not their
# body, defines the Jacobian.
CALL_PRIMITIVES = frozenset(
  {"pjit", "jit", "closed_call", "core_call", "remat", "checkpoint", "remat2"}
)
# Shape-preserving casts of the weight that keep J_W an outer product.
_CASTS = frozenset({"convert_element_type", "copy", "copy_p"})

LeafAxes = dict[int, tuple[int, ...]]


def per_example_fn(
  f: Callable[[Any, jax.Array], jax.Array],
) -> Callable[[Any, jax.Array], jax.Array]:
  """`f1(params, x_i) -> logits_C` for one example, from a batched
  `f(params, x)`.

  Axes after the batch axis are flattened into the logit axis C, so a scalar
  output per example is C = 1.
  """

  def f1(params, x_single):
    return f(params, x_single[None])[0].reshape(-1)

  return f1


@dataclasses.dataclass(frozen=True, eq=False)
class Layers:
  """Where to tap the per-example jaxpr of `f` (hashable by identity).

  Attributes:
    closed_jaxpr: jaxpr of `(leaves, x_single) -> logits_C`.
    num_leaves: number of parameter leaves (its first invars).
    leaf_taps: `((leaf_index, in_axes), ...)`, one entry per tapped dense layer.
    conv_taps: `((leaf_index, patch_params), ...)`, one per tapped convolution;
      `patch_params` are the keyword arguments of
      `jax.lax.conv_general_dilated_patches` plus "feature_axis" of the output.
    tap_sites: `{id(eqn): (tap_index, weight operand position)}`; dense taps
      come first (0..len(leaf_taps)-1), then the convolutions.
    inline: ids of call equations that contain a tap site (evaluated inline).
    tap_shapes: output shape and dtype of every tapped layer, in tap order.
  """

  closed_jaxpr: Any
  num_leaves: int
  leaf_taps: tuple[tuple[int, tuple[int, ...]], ...]
  conv_taps: tuple[tuple[int, dict[str, Any]], ...]
  tap_sites: dict[int, tuple[int, int]]
  inline: frozenset[int]
  tap_shapes: tuple[jax.ShapeDtypeStruct, ...]

  @property
  def tapped_leaves(self) -> frozenset[int]:
    return frozenset(k for k, _ in self.leaf_taps + self.conv_taps)


def find_layers(
  f: Callable[[Any, jax.Array], jax.Array],
  params: Any,
  x_example: Any,
  num_logits: int | None = None,
) -> Layers:
  """Traces the per-example function once and locates its dense and conv layers.

  Args:
    f: batched network function `f(params, x) -> logits (B, C)`.
    params: a pytree of parameters (arrays or `jax.ShapeDtypeStruct`s).
    x_example: one input example, without the batch axis.
    num_logits: C; when given, dense layers whose factors would not be smaller
      than their Jacobian (`d_in + C·d_out >= C·d_in·d_out`) are left untapped.
  """
  leaves, treedef = jax.tree_util.tree_flatten(params)
  f1 = per_example_fn(f)

  def f_flat(leaf_list, x_single):
    return f1(jax.tree_util.tree_unflatten(treedef, leaf_list), x_single)

  closed = jax.make_jaxpr(f_flat)(leaves, x_example)
  jaxpr = closed.jaxpr
  dense, conv = [], []
  for index, var in enumerate(jaxpr.invars[: len(leaves)]):
    size = math.prod(var.aval.shape)
    hit = _follow(jaxpr, var, ()) if size else None
    if hit is None:
      continue
    kind, info, eqn, pos, calls = hit
    if kind == "conv":
      conv.append((index, info, eqn, pos, calls))
      continue
    d_in = math.prod(var.aval.shape[a] for a in info)
    if (
      num_logits is None
      or d_in + num_logits * (size // d_in) < num_logits * size
    ):
      dense.append((index, info, eqn, pos, calls))
  # A contraction of two parameters would need two taps on one site: skip it.
  sites = [id(h[2]) for h in dense + conv]
  dense = [h for h in dense if sites.count(id(h[2])) == 1]
  conv = [h for h in conv if sites.count(id(h[2])) == 1]
  found = dense + conv
  return Layers(
    closed_jaxpr=closed,
    num_leaves=len(leaves),
    leaf_taps=tuple((h[0], h[1]) for h in dense),
    conv_taps=tuple((h[0], h[1]) for h in conv),
    tap_sites={id(h[2]): (k, h[3]) for k, h in enumerate(found)},
    inline=frozenset(c for h in found for c in h[4]),
    tap_shapes=tuple(
      jax.ShapeDtypeStruct(
        h[2].outvars[0].aval.shape, h[2].outvars[0].aval.dtype
      )
      for h in found
    ),
  )


def factorisable_leaves(
  f: Callable[[Any, jax.Array], jax.Array], params: Any, x_example: Any
) -> LeafAxes:
  """`{leaf_index: in_axes}` of the parameters whose J_W is `a_i ⊗ g_ic`
  (indices into `jax.tree_util.tree_leaves(params)`; `in_axes`: the leaf
  axes contracted with the layer input `a_i`)."""
  return dict(find_layers(f, params, x_example).leaf_taps)


def _uses(jaxpr, var):
  """All (equation, operand position) pairs reading `var`, and output count."""
  uses = [
    (eqn, pos)
    for eqn in jaxpr.eqns
    for pos, v in enumerate(eqn.invars)
    if v is var
  ]
  # A parameter returned directly is used linearly, but not through a layer.
  return uses, sum(1 for v in jaxpr.outvars if v is var)


def call_body(eqn):
  """(open jaxpr, consts) of a call-like equation, or None."""
  for key in ("jaxpr", "call_jaxpr"):
    body = eqn.params.get(key)
    if body is None:
      continue
    inner = getattr(body, "jaxpr", body)  # ClosedJaxpr -> Jaxpr
    if hasattr(inner, "eqns") and len(inner.invars) == len(eqn.invars):
      return inner, tuple(getattr(body, "consts", ()))
  return None


def _follow(jaxpr, var, calls):
  """Follows `var` to its single consuming contraction.

  Returns (kind, info, eqn, weight operand position, ids of enclosing call
  equations) or None; kind "dense" has info = weight in_axes, kind "conv" has
  info = patch parameters.
  """
  uses, outputs = _uses(jaxpr, var)
  if outputs or len(uses) != 1:
    return None
  eqn, pos = uses[0]
  name = eqn.primitive.name
  if name in _CASTS:
    return _follow(jaxpr, eqn.outvars[0], calls)
  if name in CALL_PRIMITIVES and eqn.primitive.multiple_results:
    body = call_body(eqn)
    if body is None:
      return None
    return _follow(body[0], body[0].invars[pos], calls + (id(eqn),))
  if name == "dot_general":
    axes = _dot_general_axes(eqn, pos)
    return None if axes is None else ("dense", axes, eqn, pos, calls)
  if name == "conv_general_dilated" and pos == 1:
    patch = _conv_patch_params(eqn)
    return None if patch is None else ("conv", patch, eqn, pos, calls)
  return None


def _conv_patch_params(eqn) -> dict[str, Any] | None:
  """Arguments of `conv_general_dilated_patches` matching this convolution."""
  p = eqn.params
  if p.get("feature_group_count", 1) != 1 or p.get("batch_group_count", 1) != 1:
    return None  # grouped/depthwise: patches would mix groups
  dims = p["dimension_numbers"]
  lhs_spec, rhs_spec, out_spec = dims.lhs_spec, dims.rhs_spec, dims.out_spec
  lhs_shape, rhs_shape = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
  if lhs_shape[lhs_spec[0]] != 1:
    return None  # one example per call, else patches of several inputs mix
  padding = p["padding"]
  if not isinstance(padding, str):
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
  return dict(
    filter_shape=tuple(int(rhs_shape[a]) for a in rhs_spec[2:]),
    window_strides=tuple(int(s) for s in p["window_strides"]),
    padding=padding,
    lhs_dilation=tuple(int(d) for d in p["lhs_dilation"]),
    rhs_dilation=tuple(int(d) for d in p["rhs_dilation"]),
    dimension_numbers=dims,
    feature_axis=int(out_spec[1]),
  )


def _dot_general_axes(eqn, pos: int) -> tuple[int, ...] | None:
  """Contracted weight axes when the other operand has a single free row."""
  if len(eqn.invars) != 2:
    return None
  (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = eqn.params[
    "dimension_numbers"
  ]
  if tuple(lhs_batch) or tuple(rhs_batch):
    return None  # Batched contractions pair weight slices with input slices.
  w_contract, x_contract = (
    (lhs_contract, rhs_contract) if pos == 0 else (rhs_contract, lhs_contract)
  )
  if not tuple(w_contract):
    return None
  x_shape = eqn.invars[1 - pos].aval.shape
  free_rows = math.prod(
    d for a, d in enumerate(x_shape) if a not in tuple(x_contract)
  )
  # One input row per example: J_W = a ⊗ g. Several rows (a dense layer
  # applied at every position) would make J_W a sum of outer products.
  if free_rows != 1:
    return None
  return tuple(sorted(int(a) for a in w_contract))


def layers_or_none(
  f: Callable[[Any, jax.Array], jax.Array],
  params: Any,
  x_example: Any,
  *,
  num_logits: int,
  check: Callable[[Layers], None] | None = None,
) -> Layers | None:
  """`find_layers`, or None (with a warning) when nothing is tapped or it fails.

  `check(layers)` traces whatever will be built on the layers (e.g. the
  features), so an unsupported construct fails here, before any real work,
  and the plain Jacobian path takes over.
  """
  try:
    layers = find_layers(f, params, x_example, num_logits)
    if not (layers.leaf_taps or layers.conv_taps):
      return None
    if check is not None:
      check(layers)
    return layers
  except Exception as err:  # pylint: disable=broad-except
    warnings.warn(
      f"kd_ntk.ntk: layer taps unavailable for this network "
      f"({type(err).__name__}: {err}); using the plain Jacobian path."
    )
    return None


def _tiled_max_pool(eqn, x) -> jax.Array | None:
  """`reduce_window_max` as `pooling.tiled_max_pool` when its windows tile
  the input (no overlap, padding or dilation); None otherwise."""
  p = eqn.params
  window, strides = tuple(p["window_dimensions"]), tuple(p["window_strides"])
  if (
    window != strides
    or any(lo or hi for lo, hi in p["padding"])
    or any(
      d != 1 for d in tuple(p["base_dilation"]) + tuple(p["window_dilation"])
    )
  ):
    return None
  return pooling.tiled_max_pool(x, window)


# Re-evaluation of the per-example jaxpr with taps: the output of every tapped
# contraction gets a zero "tap" added and its input operand is returned. Then,
# for one example, ∂f_c/∂tap = g_c (the cotangent at the layer output) and the
# input is a, so ∂f_c/∂W = a ⊗ g_c is never formed: the backward pass computes
# only activation cotangents for those layers.


def _bind(eqn, invals: Sequence[Any]) -> list[Any]:
  """Applies one equation's primitive, as `eval_jaxpr` does on any JAX."""
  bound = eqn.primitive.get_bind_params(eqn.params)
  # JAX < 0.7 returns (subfuns, params); newer JAX returns params only.
  subfuns, params = bound if isinstance(bound, tuple) else ((), bound)
  out = eqn.primitive.bind(*subfuns, *invals, **params)
  return list(out) if eqn.primitive.multiple_results else [out]


def _evaluate(
  jaxpr,
  consts: Sequence[Any],
  args: Sequence[Any],
  *,
  layers: Layers,
  taps: Sequence[Any],
  captured: dict[int, Any],
) -> list[Any]:
  env: dict[Any, Any] = {}

  def read(v):
    return v.val if isinstance(v, Literal) else env[v]

  for v, value in zip(jaxpr.constvars, consts):
    env[v] = value
  for v, value in zip(jaxpr.invars, args):
    env[v] = value
  for eqn in jaxpr.eqns:
    invals = [read(v) for v in eqn.invars]
    site = layers.tap_sites.get(id(eqn))
    if site is not None:
      tap_index, weight_pos = site
      # Dense: the input row a_i; convolution: its input, whose patches are
      # formed after differentiation (`layer_math.conv_patches`), so the
      # backward pass runs XLA's own transposed convolution.
      captured[tap_index] = invals[1 - weight_pos]
      outvals = [_bind(eqn, invals)[0] + taps[tap_index]]
    elif id(eqn) in layers.inline and eqn.primitive.name in CALL_PRIMITIVES:
      body, body_consts = call_body(eqn)
      outvals = _evaluate(
        body, body_consts, invals, layers=layers, taps=taps, captured=captured
      )
    elif (
      eqn.primitive.name == "reduce_window_max"
      and (pooled := _tiled_max_pool(eqn, invals[0])) is not None
    ):
      outvals = [pooled]
    else:
      outvals = _bind(eqn, invals)
    for v, value in zip(eqn.outvars, outvals):
      env[v] = value
  return [read(v) for v in jaxpr.outvars]


def tapped_fn(layers: Layers):
  """`g(leaves, x_single, taps) -> (logits_C, layer_inputs)` with taps added.

  `taps[k]` has the shape of tapped layer k's output (`layers.tap_shapes`);
  with zero taps the logits equal `f1(params, x_single)`. Layer inputs are
  the input rows of dense layers and the inputs (lhs, batch axis of size 1)
  of convolutions.
  """
  closed = layers.closed_jaxpr

  def g(leaves, x_single, taps) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    captured: dict[int, Any] = {}
    args = list(leaves) + [x_single]
    (logits,) = _evaluate(
      closed.jaxpr,
      closed.consts,
      args,
      layers=layers,
      taps=taps,
      captured=captured,
    )
    return logits, tuple(captured[k] for k in range(len(layers.tap_shapes)))

  return g
