"""Per-example Jacobian features of a block of inputs, and their contractions.

A block of `B` examples is turned into `Features`:

  * `jac`: per untapped parameter leaf, its per-example Jacobian
    `∂f_c(x_i)/∂θ` flattened to (B, C, P_leaf) (never concatenated: that
    would copy the largest arrays once more);
  * `conv`: per tapped convolution kernel, its per-example Jacobian
    `patches(a_i)ᵀ g_ic`, laid out (B, D, C, O) (patch entries, logits,
    output channels): the layout the matrix product writes, so no transpose;
    entries come in the patches' order, a fixed permutation of the kernel's
    that leaves every inner product unchanged;
  * for each tapped dense layer `y = a W` (see `kd_ntk.ntk.structure`), the
    layer input `a_i` (`B x D_in`) and the output cotangents `g_ic`
    (`B x C x D_out`), so that `∂f_c(x_i)/∂W = a_i ⊗ g_ic` is never formed.

The kernel of two blocks is then

    K_ij = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩
         = Σ_c ⟨J_ic, J_jc⟩ + Σ_W ⟨a_i, a_j⟩ Σ_c ⟨g_ic, g_jc⟩,

matrix products for the plain and convolution parts, two small ones per
dense layer.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from kd_ntk.ntk import layer_math
from kd_ntk.ntk.structure import Layers, per_example_fn, tapped_fn

# Exact float32/float64 products on every backend (GPU/TPU default to reduced
# precision for float32 matmuls, which would break 1e-5 agreement).
_HIGHEST = jax.lax.Precision.HIGHEST


class Features(NamedTuple):
  """What a block of B examples contributes to the kernel (a pytree)."""

  jac: tuple[jax.Array, ...]  # per plain leaf: (B, C, P_leaf)
  conv: tuple[jax.Array, ...]  # per tapped convolution: (B, D, C, O)
  inputs: tuple[jax.Array, ...]  # per dense layer: (B, D_in)
  cotangents: tuple[jax.Array, ...]  # per dense layer: (B, C, D_out)

  @property
  def batch(self) -> int:
    return jax.tree_util.tree_leaves(self)[0].shape[0]


def jacobian_fn(f: Callable[[Any, jax.Array], jax.Array]) -> Callable:
  """`jac(params, x_block) -> pytree of (B, C, *leaf.shape)` per-example
  Jacobians.

  Per-example `jacrev` under `vmap`: B·C backward passes of one example each,
  rather than `jacrev` of the batched function (B·C passes over all B).
  """
  return jax.vmap(jax.jacrev(per_example_fn(f)), in_axes=(None, 0))


def conv_cotangents(cot_C, patch) -> jax.Array:
  """(C, S, O): cotangents at the convolution output, positions x features."""
  out_spec = patch["dimension_numbers"].out_spec
  cot = jnp.transpose(cot_C, [0] + [1 + a for a in out_spec])  # (C, 1, O, *out)
  cot = cot.reshape(cot.shape[0], cot.shape[2], -1)
  return jnp.swapaxes(cot, 1, 2)


def _conv_jacobian(patches_SxD, cot_C, patch) -> jax.Array:
  """(D, C, O) kernel Jacobian of one example: patchesᵀ · cotangents, a GEMM."""
  cot_SxCxO = jnp.swapaxes(conv_cotangents(cot_C, patch), 0, 1)
  logits, outs = cot_SxCxO.shape[1:]
  jac = jax.lax.dot_general(
    patches_SxD,
    cot_SxCxO.reshape(cot_SxCxO.shape[0], -1),
    (((0,), (0,)), ((), ())),
    precision=_HIGHEST,
  )
  return jac.reshape(patches_SxD.shape[1], logits, outs)


def hashable(value):
  """A hashable stand-in for patch parameters (dicts, lists, named tuples)."""
  if isinstance(value, dict):
    return tuple(sorted((k, hashable(v)) for k, v in value.items()))
  if isinstance(value, (list, tuple)):
    return (type(value).__name__,) + tuple(hashable(v) for v in value)
  return value


def conv_jacobians_fn(layers: Layers) -> Callable:
  """`jacs(conv_in, conv_cot, which=None) -> ((B, D, C, O), ...)`: kernel
  Jacobians of the tapped convolutions (those numbered in `which`, default
  all) from their inputs and output cotangents (`tap_backward_fn`).

  One jitted function per distinct convolution (patch parameters and
  shapes), so the six identical 3x3 layers of a ResNet stage compile once;
  compiling them inside one function with the backward pass cost ~10 s on
  ResNet-20 and ran slower (XLA fused the backward pass into the products).
  """
  compiled = {}

  def one(patch):
    key = hashable(patch)
    if key not in compiled:
      compiled[key] = jax.jit(
        jax.vmap(
          lambda a, g: _conv_jacobian(
            layer_math.conv_patches(a, patch), g, patch
          )
        )
      )
    return compiled[key]

  def jacs(conv_in, conv_cot, which=None):
    which = range(len(layers.conv_taps)) if which is None else which
    return tuple(
      one(layers.conv_taps[k][1])(conv_in[k], conv_cot[k]) for k in which
    )

  return jacs


def tap_backward_fn(
  f: Callable[[Any, jax.Array], jax.Array], layers: Layers
) -> Callable:
  """Jitted `backward(leaves, x_block)`: what a block's backward passes give.

  Returns `(jac, dense_in, dense_cot, conv_in, conv_cot)`, each a list over
  examples' batch axis first: per untapped leaf its Jacobian (B, C, P_leaf);
  per dense layer its input a_i (B, D_in) and output cotangents (B, C·D_out);
  per convolution its input (B, *lhs with batch 1) and output cotangents
  (B, C, *out with batch 1). Reverse mode over (untapped leaves, taps): C
  backward passes per example that form weight gradients only for the
  untapped leaves.
  """
  tapped = tapped_fn(layers)
  skip = layers.tapped_leaves
  num_dense = len(layers.leaf_taps)

  def per_example(leaves, x_single):
    plain = [leaf for k, leaf in enumerate(leaves) if k not in skip]
    zeros = [jnp.zeros(s.shape, s.dtype) for s in layers.tap_shapes]

    def logits_fn(plain_leaves, taps):
      it = iter(plain_leaves)
      merged = [
        leaf if k in skip else next(it) for k, leaf in enumerate(leaves)
      ]
      return tapped(merged, x_single, taps)

    (jac_plain, jac_taps), inputs = jax.jacrev(
      logits_fn, argnums=(0, 1), has_aux=True
    )(plain, zeros)
    logits = jac_taps[0].shape[0]
    return (
      [j.reshape(logits, -1) for j in jac_plain],
      [a.reshape(-1) for a in inputs[:num_dense]],
      [g.reshape(logits, -1) for g in jac_taps[:num_dense]],
      list(inputs[num_dense:]),
      list(jac_taps[num_dense:]),
    )

  return jax.jit(jax.vmap(per_example, in_axes=(None, 0)))


def conv_group_jacobian_fn(patch, channels: int) -> Callable:
  """Jitted `jac(inputs, cotangents, first) -> (B, channels·K, C, O)`: the
  kernel Jacobian rows of input channels first..first+channels-1 only,

      J_i[group] = patches_i[:, group]ᵀ g_i,

  from the patches of that channel slice of the input (patch entries are
  ordered (input channel, offset), so these are whole rows of J_i)."""
  axis = patch["dimension_numbers"].lhs_spec[1]

  def one(a, g, first):
    part = jax.lax.dynamic_slice_in_dim(a, first, channels, axis=axis)
    return _conv_jacobian(layer_math.conv_patches(part, patch), g, patch)

  return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))


def _dense_jacobians(inputs, cotangents) -> tuple[jax.Array, ...]:
  """(B, C, D_in·D_out) per dense layer: J_ic = a_i ⊗ g_ic, formed by a
  broadcast product (one write of the Jacobian, no matrix product)."""
  out = []
  for a, g in zip(inputs, cotangents):
    b, logits = g.shape[0], g.shape[1]
    jac = a[:, None, :, None] * g.reshape(b, logits, 1, -1)
    out.append(jac.reshape(b, logits, -1))
  return tuple(out)


def features_fn(
  f: Callable[[Any, jax.Array], jax.Array],
  layers: Layers | None = None,
  expand: bool = False,
) -> Callable:
  """`features(params, x_block) -> Features` for a block of examples.

  Not jitted as a whole: it runs jitted pieces (the backward passes, then
  one function per distinct convolution), which compile much faster than one
  function and run faster than XLA's fusion of them. Traceable (`jax.jit`,
  `jax.eval_shape`) all the same.

  Args:
    f: batched network function `f(params, x) -> logits (B, C)`.
    layers: layers to tap, from `kd_ntk.ntk.structure.find_layers`; None (or
      no layers) gives plain Jacobian features from `vmap(jacrev)`.
    expand: the "jacobian" method with taps: every Jacobian is materialised
      (dense layers' a_i ⊗ g_ic too), so the contraction is the plain
      Σ_c ⟨J_ic, J_jc⟩, but the taps form the per-example Jacobians of dense
      and convolution kernels by broadcast and matrix products rather than
      `vmap(jacrev)`, whose per-example kernel gradients XLA:CPU runs as
      batched outer products and grouped convolutions (LeNet-5, n = 4096:
      96.3 s -> 50.0 s for the whole Gram on 2 cores).
  """
  if layers is None or not (layers.leaf_taps or layers.conv_taps):
    jac = jax.jit(jacobian_fn(f))

    def plain_features(params, x_block) -> Features:
      leaves = jax.tree_util.tree_leaves(jac(params, x_block))
      return Features(
        tuple(l.reshape(l.shape[0], l.shape[1], -1) for l in leaves), (), (), ()
      )

    return plain_features

  backward = tap_backward_fn(f, layers)
  conv_jacobians = conv_jacobians_fn(layers)
  dense_jacobians = jax.jit(_dense_jacobians)  # 3x faster than eagerly

  def tap_features(params, x_block) -> Features:
    leaves = jax.tree_util.tree_leaves(params)
    jac, dense_in, dense_cot, conv_in, conv_cot = backward(leaves, x_block)
    convs = conv_jacobians(conv_in, conv_cot)
    if expand:
      dense = dense_jacobians(tuple(dense_in), tuple(dense_cot))
      return Features(tuple(jac) + dense, convs, (), ())
    return Features(tuple(jac), convs, tuple(dense_in), tuple(dense_cot))

  return tap_features


# XLA:CPU accumulates matrix products with fewer than 4 rows sequentially in
# float32 (relative error ~1e-3 over 10⁶ terms); padding to 8 rows keeps its
# blocked kernels, accurate to ~1e-6.
MIN_ROWS = 8


def _pad_rows(feats: Features, rows: int) -> Features:
  batch = feats.batch
  if batch >= rows:
    return feats
  pad = lambda a: jnp.pad(a, [(0, rows - batch)] + [(0, 0)] * (a.ndim - 1))
  return jax.tree_util.tree_map(pad, feats)


def contract_fn(
  output: str, dtype=None
) -> Callable[[Features, Features], jax.Array]:
  """`contract(feats_a, feats_b) -> kernel block` for one output kind.

  Shapes: "trace" (Ba, Bb); "full" (Ba, Bb, C, C); "diagonal" (Ba, Bb, C).
  With `dtype` (e.g. float64) every factor is cast before any product, so all
  sums over parameters and logits accumulate in `dtype`.
  """
  cast = (lambda a: a) if dtype is None else (lambda a: a.astype(dtype))
  plain_spec = {"full": "icp,jdp->ijcd", "diagonal": "icp,jcp->ijc"}
  conv_spec = {"full": "ipco,jpdo->ijcd", "diagonal": "ipco,jpco->ijc"}

  def flat_dot(a, b):  # Σ over every axis but the first: one matrix product
    return jnp.dot(
      a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1).T, precision=_HIGHEST
    )

  def contract(fa: Features, fb: Features) -> jax.Array:
    rows_a, rows_b = fa.batch, fb.batch
    fa, fb = _pad_rows(fa, MIN_ROWS), _pad_rows(fb, MIN_ROWS)
    terms = []
    for spec, parts_a, parts_b in (
      (plain_spec, fa.jac, fb.jac),
      (conv_spec, fa.conv, fb.conv),
    ):
      for ja, jb in zip(parts_a, parts_b):
        ja, jb = cast(ja), cast(jb)
        terms.append(
          flat_dot(ja, jb)
          if output == "trace"
          else jnp.einsum(spec[output], ja, jb, precision=_HIGHEST)
        )
    for xa, xb, ta, tb in zip(
      fa.inputs, fb.inputs, fa.cotangents, fb.cotangents
    ):
      inner_ij = flat_dot(cast(xa), cast(xb))
      ta, tb = cast(ta), cast(tb)
      if output == "trace":
        terms.append(inner_ij * flat_dot(ta, tb))
      elif output == "full":
        cot = jnp.einsum("icr,jdr->ijcd", ta, tb, precision=_HIGHEST)
        terms.append(inner_ij[:, :, None, None] * cot)
      else:
        cot = jnp.einsum("icr,jcr->ijc", ta, tb, precision=_HIGHEST)
        terms.append(inner_ij[:, :, None] * cot)
    gram = terms[0]
    for term in terms[1:]:
      gram = gram + term
    return gram[:rows_a, :rows_b]

  return contract
