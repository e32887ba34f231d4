"""Array forms of layers that the tapped re-evaluation of a network uses in
place of XLA's own (`kd_ntk.ntk.structure.tapped_fn`): same values, same
derivatives, cheaper backward passes on the CPU. No jaxpr reading here.
(The tiled max pool lives in `kd_ntk.models.pooling`: the models use it too.)
"""

import itertools
import math
from typing import Tuple

import jax
import jax.numpy as jnp


def conv_patches(lhs, patch) -> jax.Array:
  """(S, D) input patches of one example: row s holds every input value that
  output position s of the convolution reads, in a fixed (feature, offset) order.

  Strided slices of the padded input, one per filter offset: no arithmetic
  (`lax.conv_general_dilated_patches` would run a convolution with a D x D
  identity kernel, D times the convolution's own cost).
  """
  spec = patch["dimension_numbers"].lhs_spec
  x = jnp.transpose(lhs, spec)[0]  # (C_in, *spatial)
  filt, strides = patch["filter_shape"], patch["window_strides"]
  lhs_dil, rhs_dil = patch["lhs_dilation"], patch["rhs_dilation"]
  pads = patch["padding"]
  if isinstance(pads, str):
    dilated_in = [(d - 1) * l + 1 for d, l in zip(x.shape[1:], lhs_dil)]
    dilated_k = [(k - 1) * r + 1 for k, r in zip(filt, rhs_dil)]
    pads = jax.lax.padtype_to_pads(dilated_in, dilated_k, strides, pads)
  x = jax.lax.pad(
    x,
    jnp.zeros((), x.dtype),
    [(0, 0, 0)] + [(lo, hi, l - 1) for (lo, hi), l in zip(pads, lhs_dil)],
  )
  out = [
    (d - (k - 1) * r - 1) // s + 1
    for d, k, r, s in zip(x.shape[1:], filt, rhs_dil, strides)
  ]
  slices = []
  for offsets in itertools.product(*[range(k) for k in filt]):
    start = [0] + [o * r for o, r in zip(offsets, rhs_dil)]
    limit = [x.shape[0]] + [
      b + (m - 1) * s + 1 for b, m, s in zip(start[1:], out, strides)
    ]
    slices.append(jax.lax.slice(x, start, limit, [1] + list(strides)))
  patches = jnp.stack(slices, axis=1)  # (C_in, K, *out)
  return patches.reshape(-1, math.prod(out)).T  # (S, D)


def conv_as_matmul(lhs, rhs, patch, out_shape) -> Tuple[jax.Array, jax.Array]:
  """(output, patches_SxD) of a one-example convolution computed as patches · W.

  The same numbers as `conv_general_dilated`, but as a matrix product, so the
  backward pass (C cotangents per example) is a large GEMM instead of C
  transposed convolutions, and the patches are ready for the kernel Jacobian
  `patchesᵀ · g_c`.
  """
  dims = patch["dimension_numbers"]
  patches_SxD = conv_patches(lhs, patch)
  order = (dims.rhs_spec[1],) + tuple(dims.rhs_spec[2:]) + (dims.rhs_spec[0],)
  w_DxO = jnp.transpose(rhs, order).reshape(patches_SxD.shape[1], -1)
  y_SxO = jnp.dot(patches_SxD, w_DxO, precision=jax.lax.Precision.HIGHEST)
  out = dims.out_spec
  canonical = y_SxO.T.reshape(
    (1, y_SxO.shape[1]) + tuple(out_shape[a] for a in out[2:])
  )
  inverse = sorted(range(len(out)), key=lambda k: out[k])
  return jnp.transpose(canonical, inverse).astype(rhs.dtype), patches_SxD
