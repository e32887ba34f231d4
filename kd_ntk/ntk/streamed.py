"""The trace Gram matrix with every example's backward pass run once
("streamed").

The blocked layout (`kd_ntk.ntk.blocking`) pairs blocks of examples; when
not all prepared blocks fit in memory it prepares column blocks again for
every panel of rows (2.1x the backward passes on LeNet-5x8 at n = 1024, more
at larger n). Here the backward passes of all n examples run once, their
results are kept, and the kernel is summed over *parameters*:

    K = F Fᵀ + Σ_dense (A Aᵀ) ⊙ (G Gᵀ) + Σ_conv Σ_groups J_g J_gᵀ,

  * F (n, P_F): per example the Jacobians of the untapped leaves and the
    kernel Jacobians `patchesᵀ g` (D·C·O values) of the convolutions kept
    whole;
  * A (n, D_in), G (n, C·D_out): the factors of each dense layer;
  * a convolution whose Jacobians for all n would not fit the memory budget
    is kept *compact*, as its input and its output cotangents, and its
    Jacobian formed for a group of input channels at a time,
    `J_i[group] = patches_i[:, group]ᵀ g_i`, for all n at once.

Every product is one large matrix product (for the symmetric kernel only the
upper block triangle, in row chunks of `ROW_CHUNK`, then mirrored). The plan
(`stream_plan`) keeps convolutions whole while everything fits in the byte
budget and makes compact the ones that save the most memory first; it
returns None when even that does not fit (the blocked layout then runs).
One device; trace output only.
"""

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk.ntk.blocking import Progress, block_slices, padded_block
from kd_ntk.ntk.structure import Layers

_HIGHEST = jax.lax.Precision.HIGHEST
# Rows per product of the upper block triangle (symmetric kernels).
ROW_CHUNK = 128


class StreamPlan(NamedTuple):
  """Which convolutions are kept compact, and the sizes of everything kept."""

  compact: tuple[int, ...]  # tapped convolutions (numbered 0..) kept compact
  group_channels: tuple[int, ...]  # input channels per group, per compact conv
  stored_bytes: int  # everything kept for all examples (x1 and x2)
  peak_bytes: int  # stored + the largest transient + the output


def _divisors(n: int) -> list[int]:
  return [d for d in range(1, n + 1) if n % d == 0]


def stream_plan(
  layers: Layers,
  shapes,
  *,
  num_logits: int,
  n_stored: int,
  out_bytes: int,
  itemsize: int,
  budget: int,
) -> StreamPlan | None:
  """The cheapest layout within `budget` bytes, or None.

  Args:
    layers: the tapped layers.
    shapes: `jax.eval_shape` of `tap_backward_fn` on one block (only the
      per-example shapes are used).
    num_logits: C.
    n_stored: examples whose results are kept (n1, plus n2 for a cross kernel).
    out_bytes: bytes of the kernel (n1·n2 entries).
    itemsize: bytes per stored value.
    budget: bytes.
  """
  jac, dense_in, dense_cot, conv_in, conv_cot = shapes
  per_example = lambda a: math.prod(a.shape[1:])
  plain = sum(per_example(a) for a in jac)
  dense = sum(per_example(a) for a in list(dense_in) + list(dense_cot))
  whole, compact_size, group_row = [], [], []
  for k, (_, patch) in enumerate(layers.conv_taps):
    cot = conv_cot[k]
    outs = cot.shape[2 + patch["feature_axis"]]
    taps = math.prod(patch["filter_shape"])
    in_channels = conv_in[k].shape[1 + patch["dimension_numbers"].lhs_spec[1]]
    whole.append(in_channels * taps * num_logits * outs)
    compact_size.append(per_example(conv_in[k]) + per_example(cot))
    group_row.append(taps * num_logits * outs)  # values per input channel
  out_bytes = 2 * out_bytes  # the kernel and one contribution

  def bytes_of(compact) -> tuple[int, int]:
    """(everything kept, the device copy of F made for its product)."""
    f_floats = plain + sum(
      whole[k] for k in range(len(whole)) if k not in compact
    )
    floats = f_floats + dense + sum(compact_size[k] for k in compact)
    return n_stored * floats * itemsize, n_stored * f_floats * itemsize

  compact: list[int] = []
  savings = sorted(
    (k for k in range(len(whole)) if compact_size[k] < whole[k]),
    key=lambda k: compact_size[k] - whole[k],
  )
  stored, transient = bytes_of(compact)
  while stored + transient + out_bytes > budget and savings:
    compact.append(savings.pop(0))
    stored, transient = bytes_of(compact)
  room = budget - stored - out_bytes
  groups = []
  for k in compact:
    in_channels = whole[k] // group_row[k]
    fits = [
      d
      for d in _divisors(in_channels)
      if n_stored * d * group_row[k] * itemsize <= room
    ]
    if not fits:
      return None
    groups.append(max(fits))
    transient = max(transient, n_stored * groups[-1] * group_row[k] * itemsize)
  peak = stored + transient + out_bytes
  if peak > budget:
    return None
  return StreamPlan(tuple(compact), tuple(groups), stored, peak)


def _flat(a, dtype):
  a = a.reshape(a.shape[0], -1)
  return a if dtype is None else a.astype(dtype)


def _pair_fixed(f_a, f_b, dense_a, dense_b, *, dtype):
  """F_a F_bᵀ + Σ_dense (A_a A_bᵀ) ⊙ (G_a G_bᵀ) for two row chunks."""
  dot = lambda u, v: jnp.dot(
    _flat(u, dtype), _flat(v, dtype).T, precision=_HIGHEST
  )
  out = dot(f_a, f_b)
  for (a_in, a_cot), (b_in, b_cot) in zip(dense_a, dense_b):
    out = out + dot(a_in, b_in) * dot(a_cot, b_cot)
  return out


def _pair_group(j_a, j_b, dtype):
  return jnp.dot(_flat(j_a, dtype), _flat(j_b, dtype).T, precision=_HIGHEST)


_pair_fixed_jit = jax.jit(_pair_fixed, static_argnames="dtype")
_pair_group_jit = jax.jit(_pair_group, static_argnums=2)


class _Chunk(NamedTuple):
  """What R examples (a row chunk, zero-padded) keep, as device arrays."""

  rows: tuple[int, int]  # (start, stop) in the inputs
  f: jax.Array  # (R, P_F)
  dense: tuple[tuple[jax.Array, jax.Array], ...]  # per dense layer (A, G)
  conv_in: dict[int, jax.Array]  # compact convolutions only
  conv_cot: dict[int, jax.Array]


def chunk_rows(block_size: int) -> int:
  """Rows per chunk: whole backward blocks, at least `ROW_CHUNK` rows."""
  return block_size * max(1, -(-ROW_CHUNK // block_size))


def _cat(arrays):
  return jnp.concatenate(arrays) if len(arrays) > 1 else arrays[0]


def _chunk(rows, parts, compact) -> _Chunk:
  """One chunk from the per-block parts (F, dense in, dense cot, conv in, conv
  cot) of its backward blocks, stacked along the examples."""
  return _Chunk(
    rows,
    _cat([p[0] for p in parts]),
    tuple(
      (_cat([p[1][d] for p in parts]), _cat([p[2][d] for p in parts]))
      for d in range(len(parts[0][1]))
    ),
    {k: _cat([p[3][i] for p in parts]) for i, k in enumerate(compact)},
    {k: _cat([p[4][i] for p in parts]) for i, k in enumerate(compact)},
  )


def _collect(
  backward, conv_jacobians, leaves, x, *, block_size, plan, meter
) -> list[_Chunk]:
  """Runs every block's backward pass once and keeps what the kernel needs,
  in row chunks of `chunk_rows(block_size)` examples."""
  n, rows = len(x), chunk_rows(block_size)
  whole, zeros = None, None
  chunks = []
  for c0 in range(0, n, rows):
    parts = []
    for s in range(c0, c0 + rows, block_size):
      if s >= n and zeros is not None:  # padding rows of the last chunk
        parts.append(zeros)
        continue
      x_block = padded_block(x, min(s, n), min(s + block_size, n), block_size)
      b_jac, b_din, b_dcot, b_cin, b_ccot = backward(leaves, x_block)
      if whole is None:
        whole = [k for k in range(len(b_cin)) if k not in plan.compact]
      convs = conv_jacobians(b_cin, b_ccot, whole)
      f = [a.reshape(block_size, -1) for a in list(b_jac) + list(convs)]
      if not f:  # every leaf tapped, every convolution compact
        f = [
          jnp.zeros((block_size, 0), b_cin[0].dtype if b_cin else x_block.dtype)
        ]
      part = (
        jnp.concatenate(f, axis=1) if len(f) != 1 else f[0],
        b_din,
        b_dcot,
        [b_cin[k] for k in plan.compact],
        [b_ccot[k] for k in plan.compact],
      )
      if s >= n:
        zeros = jax.tree_util.tree_map(jnp.zeros_like, part)
        part = zeros
      else:
        meter.step()
      parts.append(part)
    chunks.append(_chunk((c0, min(n, c0 + rows)), parts, plan.compact))
  return chunks


def _pairs(chunks_a, chunks_b, symmetric):
  """(i, j) of the chunk pairs to compute (j >= i for a symmetric kernel)."""
  return [
    (i, j)
    for i in range(len(chunks_a))
    for j in range(i if symmetric else 0, len(chunks_b))
  ]


def _place(out, ca: _Chunk, cb: _Chunk, block, *, symmetric: bool) -> None:
  """Adds a chunk-pair block (and, when symmetric, its mirror) into `out`."""
  (r0, r1), (c0, c1) = ca.rows, cb.rows
  block = np.asarray(block)[: r1 - r0, : c1 - c0]
  out[r0:r1, c0:c1] += block
  if symmetric and ca.rows != cb.rows:
    out[c0:c1, r0:r1] += block.T


def streamed_gram(
  backward: Callable,
  conv_jacobians: Callable,
  group_jacobian: Callable,
  *,
  layers: Layers,
  leaves: list[Any],
  x1,
  x2,
  plan: StreamPlan,
  shapes,
  block_size: int,
  dtype: np.dtype | None,
  precision_scope: Callable[[], Any],
  progress: bool = False,
) -> np.ndarray:
  """The (n1, n2) trace kernel by the streamed layout (see the module doc).

  Args:
    backward: `kd_ntk.ntk.features.tap_backward_fn(f, layers)`.
    conv_jacobians: `kd_ntk.ntk.features.conv_jacobians_fn(layers)`.
    group_jacobian: `(patch, channels) -> kd_ntk.ntk.features.
      conv_group_jacobian_fn(patch, channels)`, cached by the caller.
    layers: the tapped layers.
    leaves: the parameter leaves.
    x1, x2: inputs (x2 None: the symmetric kernel of x1).
    plan: from `stream_plan`.
    shapes: `jax.eval_shape` of `backward` on one block of `block_size`.
    block_size: examples per backward call.
    dtype: accumulation dtype (None: the features' own).
    precision_scope: context for the products (float64 enabled when needed).
    progress: progress lines on stderr.
  """
  symmetric = x2 is None
  blocks = lambda x: len(block_slices(len(x), block_size))
  rows = chunk_rows(block_size)
  n_chunks = lambda x: -(-len(x) // rows)
  pairs_count = len(
    _pairs(
      range(n_chunks(x1)), range(n_chunks(x1 if symmetric else x2)), symmetric
    )
  )
  groups = sum(
    shapes[3][k].shape[
      1 + layers.conv_taps[k][1]["dimension_numbers"].lhs_spec[1]
    ]
    // c
    for k, c in zip(plan.compact, plan.group_channels)
  )
  meter = Progress(
    blocks(x1) + (0 if symmetric else blocks(x2)) + pairs_count * (1 + groups),
    progress,
    "ntk[structured, streamed]",
  )
  args = (backward, conv_jacobians, leaves)
  k1 = _collect(*args, x1, block_size=block_size, plan=plan, meter=meter)
  k2 = (
    k1
    if symmetric
    else _collect(*args, x2, block_size=block_size, plan=plan, meter=meter)
  )
  shape = (len(x1), len(x1) if symmetric else len(x2))
  out = None
  pairs = _pairs(k1, k2, symmetric)
  with precision_scope():
    for i, j in pairs:
      a, b = k1[i], k2[j]
      block = _pair_fixed_jit(a.f, b.f, a.dense, b.dense, dtype=dtype)
      if out is None:
        out = np.zeros(shape, np.dtype(block.dtype))
      _place(out, a, b, block, symmetric=symmetric)
      meter.step()
    for k, channels in zip(plan.compact, plan.group_channels):
      patch = layers.conv_taps[k][1]
      jac_fn = group_jacobian(patch, channels)
      axis = 1 + patch["dimension_numbers"].lhs_spec[1]
      for first in range(0, shapes[3][k].shape[axis], channels):
        form = lambda c: jac_fn(c.conv_in[k], c.conv_cot[k], first)
        j1 = [form(c) for c in k1]
        j2 = j1 if symmetric else [form(c) for c in k2]
        for i, j in pairs:
          block = _pair_group_jit(j1[i], j2[j], dtype)
          _place(out, k1[i], k2[j], block, symmetric=symmetric)
          meter.step()
        del j1, j2
  return out
