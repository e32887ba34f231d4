"""Exact symmetry for kernels that are symmetric in exact arithmetic.

A Gram matrix of x against itself satisfies `K_ij = K_ji` (trace output),
`K_ij,cd = K_ji,dc` (full output) and `K_ij,c = K_ji,c` (diagonal output). A
float32 product `A·Aᵀ` does not promise it bitwise: XLA's tiled matmuls sum the
(i, j) and (j, i) entries in different orders, and which orders depend on the
CPU's instruction set and the matrix size (measured: a bare `jit(a @ a.T)` is
1.5e-8 relative asymmetric on one machine, NTK diagonal blocks 7e-8 to 1.4e-7,
and 0 on another). Every symmetric kernel kd_ntk returns therefore goes through
`symmetrize_`, which replaces each mirrored pair by its mean,

    K_ij ← K_ji ← (K_ij + K_ji) / 2,

exactly symmetric because floating-point addition is commutative. Where the two
entries already agree (the mirrored off-diagonal blocks) the mean returns them
unchanged, bit for bit. The pass is in place and block by block, so it needs no
n×n temporary.

`symmetry_tolerance_for(dtype)` states how far from symmetric a kernel handed
to kd_ntk by someone else may be and still count as round-off.
"""

import numpy as np

# A foreign kernel may be this many units of its dtype's rounding (eps) away
# from symmetric, relative to max |K|. The measured float32 asymmetry of NTK
# blocks is about 1 eps; sums over ~10⁵–10⁶ parameters in different orders can
# reach a few tens of eps. 256 eps is 3.1e-5 in float32 and 5.7e-14 in float64:
# far below any asymmetry that is a mistake (a cross-kernel, a wrong axis).
SYMMETRY_EPS_MULTIPLE = 256

_BLOCK = 1024


def symmetry_tolerance_for(dtype) -> float:
  """Allowed `max |K − Kᵀ| / max |K|` for a kernel computed in `dtype`.

      tolerance = SYMMETRY_EPS_MULTIPLE · eps(dtype)

  Integer and boolean dtypes, which carry no rounding, get float64's eps.
  """
  dtype = np.dtype(dtype)
  if not np.issubdtype(dtype, np.floating):
    dtype = np.dtype(np.float64)
  return SYMMETRY_EPS_MULTIPLE * float(np.finfo(dtype).eps)


def _mirror(block: np.ndarray) -> np.ndarray:
  """(i, j, c, d) → (j, i, d, c); (i, j, c) → (j, i, c); (i, j) → (j, i)."""
  if block.ndim == 4:
    return block.transpose(1, 0, 3, 2)
  return np.swapaxes(block, 0, 1)


def symmetrize_(gram) -> np.ndarray:
  """Makes a square kernel exactly symmetric in place; returns it.

  Args:
    gram: (N, N), (N, N, C) or (N, N, C, C) array (a JAX array is copied to
      numpy first; a read-only numpy array is copied).

  Returns:
    The same numpy array (or the copy), with every mirrored pair replaced by
    its mean.
  """
  out = np.asarray(gram)
  if not out.flags.writeable:
    out = out.copy()
  if out.ndim < 2 or out.shape[0] != out.shape[1]:
    raise ValueError(f"symmetrize_ needs a square kernel; got {out.shape}.")
  if out.ndim == 4 and out.shape[2] != out.shape[3]:
    raise ValueError(
      f"a full-output kernel needs (N, N, C, C); got {out.shape}."
    )
  n = out.shape[0]
  for r0 in range(0, n, _BLOCK):
    r1 = min(r0 + _BLOCK, n)
    for c0 in range(r0, n, _BLOCK):
      c1 = min(c0 + _BLOCK, n)
      upper = out[r0:r1, c0:c1]
      mean = (upper + _mirror(out[c0:c1, r0:r1])) / 2
      out[r0:r1, c0:c1] = mean
      out[c0:c1, r0:r1] = _mirror(mean)
  return out
