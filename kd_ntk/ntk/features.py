"""Per-example Jacobian features of a block of inputs, and their contractions.

A block of `B` examples is turned into `Features`:

  * `jac_BxCxP`: the per-example Jacobian `∂f_c(x_i)/∂θ` of every parameter
    not in a tapped dense layer, flattened and concatenated over leaves (in
    any fixed order: only inner products matter);
  * for each tapped dense layer `y = a W` (see `kd_ntk.ntk.structure`), the
    layer input `a_i` (`B x D_in`) and the output cotangents `g_ic`
    (`B x C x D_out`), so that `∂f_c(x_i)/∂W = a_i ⊗ g_ic` is never formed.

Tapped convolution kernels join the plain columns, but their per-example
Jacobian is computed as `patches(a_i)ᵀ g_ic` (one matrix product per example)
instead of by per-example kernel gradients; its entries come out in the
patches' order, a fixed permutation that leaves every inner product unchanged.

The kernel of two blocks is then

    K_ij = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩
         = Σ_c ⟨J_ic, J_jc⟩ + Σ_W ⟨a_i, a_j⟩ Σ_c ⟨g_ic, g_jc⟩,

one matrix product for the plain part and two small ones per dense layer.
"""

import itertools
import math
from typing import Any, Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from kd_ntk.ntk.structure import Layers, per_example_fn, tapped_fn

# Exact float32/float64 products on every backend (GPU/TPU default to reduced
# precision for float32 matmuls, which would break 1e-5 agreement).
_HIGHEST = jax.lax.Precision.HIGHEST


class Features(NamedTuple):
  """What a block of B examples contributes to the kernel (a pytree)."""
  jac_BxCxP: jax.Array                    # plain Jacobian columns
  inputs: Tuple[jax.Array, ...]           # per dense layer: (B, D_in)
  cotangents: Tuple[jax.Array, ...]       # per dense layer: (B, C, D_out)


def jacobian_fn(f: Callable[[Any, jax.Array], jax.Array]) -> Callable:
  """`jac(params, x_block) -> pytree of (B, C, *leaf.shape)` per-example Jacobians.

  Per-example `jacrev` under `vmap`: B·C backward passes of one example each,
  rather than `jacrev` of the batched function (B·C passes over all B).
  """
  return jax.vmap(jax.jacrev(per_example_fn(f)), in_axes=(None, 0))


def _flat_jacobian(leaves, batch: int, logits: int, dtype) -> jax.Array:
  plain = [leaf.reshape(batch, logits, -1) for leaf in leaves]
  if not plain:
    return jnp.zeros((batch, logits, 0), dtype)
  return plain[0] if len(plain) == 1 else jnp.concatenate(plain, axis=-1)


def conv_patches(lhs, patch) -> jax.Array:
  """(S, D) input patches of one example: row s holds every input value that
  output position s of the convolution reads, in a fixed (feature, offset) order.

  Strided slices of the padded input, one per filter offset: no arithmetic
  (`lax.conv_general_dilated_patches` would run a convolution with a D x D
  identity kernel, D times the convolution's own cost).
  """
  spec = patch["dimension_numbers"].lhs_spec
  x = jnp.transpose(lhs, spec)[0]                      # (C_in, *spatial)
  filt, strides = patch["filter_shape"], patch["window_strides"]
  lhs_dil, rhs_dil = patch["lhs_dilation"], patch["rhs_dilation"]
  pads = patch["padding"]
  if isinstance(pads, str):
    dilated_in = [(d - 1) * l + 1 for d, l in zip(x.shape[1:], lhs_dil)]
    dilated_k = [(k - 1) * r + 1 for k, r in zip(filt, rhs_dil)]
    pads = jax.lax.padtype_to_pads(dilated_in, dilated_k, strides, pads)
  x = jax.lax.pad(x, jnp.zeros((), x.dtype),
                  [(0, 0, 0)] + [(lo, hi, l - 1) for (lo, hi), l in zip(pads, lhs_dil)])
  out = [(d - (k - 1) * r - 1) // s + 1
         for d, k, r, s in zip(x.shape[1:], filt, rhs_dil, strides)]
  slices = []
  for offsets in itertools.product(*[range(k) for k in filt]):
    start = [0] + [o * r for o, r in zip(offsets, rhs_dil)]
    limit = [x.shape[0]] + [b + (m - 1) * s + 1 for b, m, s in zip(start[1:], out, strides)]
    slices.append(jax.lax.slice(x, start, limit, [1] + list(strides)))
  patches = jnp.stack(slices, axis=1)                  # (C_in, K, *out)
  return patches.reshape(-1, math.prod(out)).T         # (S, D)


def conv_cotangents(cot_C, patch) -> jax.Array:
  """(C, S, O): cotangents at the convolution output, positions then features."""
  out_spec = patch["dimension_numbers"].out_spec
  cot = jnp.transpose(cot_C, [0] + [1 + a for a in out_spec])   # (C, 1, O, *out)
  cot = cot.reshape(cot.shape[0], cot.shape[2], -1)
  return jnp.swapaxes(cot, 1, 2)


def _conv_jacobian(lhs, cot_C, patch) -> jax.Array:
  """(C, D_patch·C_out) kernel Jacobian of one example: patchesᵀ · cotangents."""
  patches_SxD = conv_patches(lhs, patch)
  cot_CxSxO = conv_cotangents(cot_C, patch)
  jac_CxDxO = jnp.einsum("sd,cso->cdo", patches_SxD, cot_CxSxO, precision=_HIGHEST)
  return jac_CxDxO.reshape(cot_C.shape[0], -1)


def features_fn(f: Callable[[Any, jax.Array], jax.Array],
                layers: Optional[Layers] = None) -> Callable:
  """`features(params, x_block) -> Features` for a block of examples.

  Args:
    f: batched network function `f(params, x) -> logits (B, C)`.
    layers: dense layers to tap, from `kd_ntk.ntk.structure.find_layers`;
      None (or no layers) gives plain Jacobian features ("jacobian" method).
  """
  if layers is None or not (layers.leaf_taps or layers.conv_taps):
    jac = jacobian_fn(f)

    def plain_features(params, x_block) -> Features:
      leaves = jax.tree_util.tree_leaves(jac(params, x_block))
      batch, logits = leaves[0].shape[:2]
      return Features(_flat_jacobian(leaves, batch, logits, leaves[0].dtype), (), ())

    return plain_features

  tapped = tapped_fn(layers)
  skip = layers.tapped_leaves
  num_dense = len(layers.leaf_taps)

  def per_example(leaves, x_single):
    plain = [leaf for k, leaf in enumerate(leaves) if k not in skip]
    zeros = [jnp.zeros(s.shape, s.dtype) for s in layers.tap_shapes]

    def logits_fn(plain_leaves, taps):
      it = iter(plain_leaves)
      merged = [leaf if k in skip else next(it) for k, leaf in enumerate(leaves)]
      return tapped(merged, x_single, taps)

    # Reverse mode over (plain parameters, taps): C backward passes that form
    # weight gradients only for the untapped parameters.
    (jac_plain, jac_taps), inputs = jax.jacrev(logits_fn, argnums=(0, 1),
                                               has_aux=True)(plain, zeros)
    logits = jac_taps[0].shape[0]
    convs = [_conv_jacobian(inputs[k], jac_taps[k], patch)
             for k, (_, patch) in enumerate(layers.conv_taps, start=num_dense)]
    return (list(jac_plain) + convs,
            [a.reshape(-1) for a in inputs[:num_dense]],
            [g.reshape(logits, -1) for g in jac_taps[:num_dense]])

  batched = jax.vmap(per_example, in_axes=(None, 0))

  def tap_features(params, x_block) -> Features:
    leaves = jax.tree_util.tree_leaves(params)
    jac_plain, inputs, cotangents = batched(leaves, x_block)
    first = (cotangents or jac_plain)[0]
    return Features(_flat_jacobian(jac_plain, first.shape[0], first.shape[1], first.dtype),
                    tuple(inputs), tuple(cotangents))

  return tap_features


# XLA:CPU accumulates matrix products with fewer than 4 rows sequentially in
# float32 (relative error ~1e-3 over 10⁶ terms); padding to 8 rows keeps its
# blocked kernels, accurate to ~1e-6.
MIN_ROWS = 8


def _pad_rows(feats: Features, rows: int) -> Features:
  batch = feats.jac_BxCxP.shape[0]
  if batch >= rows:
    return feats
  pad = lambda a: jnp.pad(a, [(0, rows - batch)] + [(0, 0)] * (a.ndim - 1))
  return jax.tree_util.tree_map(pad, feats)


def contract_fn(output: str, dtype=None) -> Callable[[Features, Features], jax.Array]:
  """`contract(feats_a, feats_b) -> kernel block` for one output kind.

  Shapes: "trace" (Ba, Bb); "full" (Ba, Bb, C, C); "diagonal" (Ba, Bb, C).
  With `dtype` (e.g. float64) every factor is cast before any product, so all
  sums over parameters and logits accumulate in `dtype`.
  """
  cast = (lambda a: a) if dtype is None else (lambda a: a.astype(dtype))

  def contract(fa: Features, fb: Features) -> jax.Array:
    rows_a, rows_b = fa.jac_BxCxP.shape[0], fb.jac_BxCxP.shape[0]
    fa, fb = _pad_rows(fa, MIN_ROWS), _pad_rows(fb, MIN_ROWS)
    ja, jb = cast(fa.jac_BxCxP), cast(fb.jac_BxCxP)
    if output == "trace":
      # Σ_c Σ_p as one matrix product over the flattened (C, P) axis.
      gram = jnp.dot(ja.reshape(ja.shape[0], -1), jb.reshape(jb.shape[0], -1).T,
                     precision=_HIGHEST)
    elif output == "full":
      gram = jnp.einsum("icp,jdp->ijcd", ja, jb, precision=_HIGHEST)
    else:
      gram = jnp.einsum("icp,jcp->ijc", ja, jb, precision=_HIGHEST)
    for xa, xb, ta, tb in zip(fa.inputs, fb.inputs, fa.cotangents, fb.cotangents):
      inner_ij = jnp.dot(cast(xa), cast(xb).T, precision=_HIGHEST)
      ta, tb = cast(ta), cast(tb)
      if output == "trace":
        cot_ij = jnp.dot(ta.reshape(ta.shape[0], -1), tb.reshape(tb.shape[0], -1).T,
                         precision=_HIGHEST)
        gram = gram + inner_ij * cot_ij
      elif output == "full":
        cot = jnp.einsum("icr,jdr->ijcd", ta, tb, precision=_HIGHEST)
        gram = gram + inner_ij[:, :, None, None] * cot
      else:
        cot = jnp.einsum("icr,jcr->ijc", ta, tb, precision=_HIGHEST)
        gram = gram + inner_ij[:, :, None] * cot
    return gram[:rows_a, :rows_b]

  return contract
