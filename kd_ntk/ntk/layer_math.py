"""Array math of the structured NTK path, no jaxpr reading here: the input
patches of a convolution, for its kernel Jacobian `patchesᵀ g` (formed after
XLA's own convolution has run the backward pass). The tiled max pool that the
tapped re-evaluation (`kd_ntk.ntk.structure.tapped_fn`) uses in place of XLA's
lives in `kd_ntk.models.pooling`: the models use it too.
"""

import itertools
import math

import jax
import jax.numpy as jnp


def conv_patches(lhs, patch) -> jax.Array:
  """(S, D) input patches of one example: row s holds every input value that
  output position s of the convolution reads, in a fixed (feature, offset)
  order.

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
