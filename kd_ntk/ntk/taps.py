"""Layer inputs and output cotangents of dense layers, read off one jaxpr pass.

Evaluates the per-example jaxpr found by `kd_ntk.ntk.structure` equation by
equation (as `jax.core.eval_jaxpr` does), except that the output of every
tapped dense contraction gets a zero "tap" added and its input operand is
returned. Then, for one example,

    ∂f_c/∂tap = g_c      (the cotangent at the layer output)
    input      = a       (the layer input)

and `∂f_c/∂W = a ⊗ g_c` is never formed: the backward pass computes only
activation cotangents for those layers. The evaluation uses only what
`jax.make_jaxpr` returns (equations, primitives, `bind`).
"""

from typing import Any, Dict, List, Sequence, Tuple

import jax
from jax.extend.core import Literal

from kd_ntk.ntk.structure import CALL_PRIMITIVES, Layers, call_body


def _bind(eqn, invals: Sequence[Any]) -> List[Any]:
  """Applies one equation's primitive, as `eval_jaxpr` does on any JAX."""
  bound = eqn.primitive.get_bind_params(eqn.params)
  # JAX < 0.7 returns (subfuns, params); newer JAX returns params only.
  subfuns, params = bound if isinstance(bound, tuple) else ((), bound)
  out = eqn.primitive.bind(*subfuns, *invals, **params)
  return list(out) if eqn.primitive.multiple_results else [out]


def _evaluate(jaxpr, consts: Sequence[Any], args: Sequence[Any], layers: Layers,
              taps: Sequence[Any], captured: Dict[int, Any]) -> List[Any]:
  env: Dict[Any, Any] = {}

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
      captured[tap_index] = invals[1 - weight_pos]
      outvals = [_bind(eqn, invals)[0] + taps[tap_index]]
    elif id(eqn) in layers.inline and eqn.primitive.name in CALL_PRIMITIVES:
      body, body_consts = call_body(eqn)
      outvals = _evaluate(body, body_consts, invals, layers, taps, captured)
    else:
      outvals = _bind(eqn, invals)
    for v, value in zip(eqn.outvars, outvals):
      env[v] = value
  return [read(v) for v in jaxpr.outvars]


def tapped_fn(layers: Layers):
  """`g(leaves, x_single, taps) -> (logits_C, layer_inputs)` with taps added.

  `taps[k]` has the shape of tapped layer k's output (`layers.tap_shapes`);
  with zero taps the logits equal `f1(params, x_single)`.
  """
  closed = layers.closed_jaxpr

  def g(leaves, x_single, taps) -> Tuple[jax.Array, Tuple[jax.Array, ...]]:
    captured: Dict[int, Any] = {}
    args = list(leaves) + [x_single]
    (logits,) = _evaluate(closed.jaxpr, closed.consts, args, layers, taps, captured)
    return logits, tuple(captured[k] for k in range(len(layers.tap_shapes)))

  return g
