"""The blocked Gram-matrix driver: padding, symmetry, caching, progress.

Rows and columns are cut into blocks of `block_size` examples; the last block
is padded (with zeros) to the full size so every call of the jitted per-block
functions has the same shapes and nothing recompiles. For a symmetric kernel
(`x2 is None`) only blocks `J >= I` are computed and the rest mirrored.

Each block is first `prepare`d (Jacobian features, or nothing for NTK-vector
products) and pairs of prepared blocks are `pair`ed into kernel blocks. When
all prepared blocks fit in `cache_bytes` they are computed once and kept;
otherwise the row block is kept and column blocks are recomputed.
"""

import collections
import math
import sys
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple

import jax
import numpy as np


class Progress:
  """Blocks done / total, elapsed time and ETA, written to stderr."""

  def __init__(self, total: int, enabled: bool, label: str, every_s: float = 2.0):
    self.total, self.enabled, self.label, self.every_s = total, enabled, label, every_s
    self.done = 0
    self.start = self.last = time.perf_counter()

  def step(self, count: int = 1) -> None:
    self.done += count
    if not self.enabled:
      return
    now = time.perf_counter()
    if now - self.last < self.every_s and self.done < self.total:
      return
    self.last = now
    elapsed = now - self.start
    eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
    sys.stderr.write(f"{self.label}: {self.done}/{self.total} blocks "
                     f"({100.0 * self.done / self.total:.0f}%), {elapsed:.1f} s elapsed, "
                     f"ETA {eta:.1f} s\n")
    sys.stderr.flush()


def block_slices(n: int, block_size: int) -> List[Tuple[int, int]]:
  """[(start, stop), ...] covering range(n) in blocks of block_size."""
  return [(s, min(s + block_size, n)) for s in range(0, n, block_size)]


def padded_block(x: Any, start: int, stop: int, block_size: int) -> np.ndarray:
  """Rows start:stop of x, zero-padded to block_size rows."""
  block = np.asarray(x[start:stop])
  if stop - start < block_size:
    pad = [(0, block_size - (stop - start))] + [(0, 0)] * (block.ndim - 1)
    block = np.pad(block, pad)
  return block


def tree_nbytes(tree: Any) -> int:
  """Bytes of all array leaves of a pytree (shape-dtype structs included)."""
  return int(sum(math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize
                 for leaf in jax.tree_util.tree_leaves(tree)))


def blocked_gram(prepare: Callable[[np.ndarray], Any],
                 pair: Callable[[Any, Any], jax.Array],
                 mirror: Callable[[np.ndarray], np.ndarray],
                 x1: Any, x2: Optional[Any], *, block_size: int,
                 tail_shape: Sequence[int], out_dtype, cache_bytes: int,
                 progress: bool = False, label: str = "ntk") -> np.ndarray:
  """Assembles the (n1, n2, *tail_shape) kernel from per-block computations.

  Args:
    prepare: block of inputs (block_size, ...) -> prepared block (a pytree).
    pair: (prepared_a, prepared_b) -> kernel block (block_size, block_size, *tail).
    mirror: kernel block of (a, b) -> kernel block of (b, a).
    x1, x2: inputs with a leading example axis; x2 None for the symmetric case.
    block_size: examples per block.
    tail_shape: trailing output axes after (n1, n2).
    out_dtype: numpy dtype of the result.
    cache_bytes: keep all prepared blocks when they fit in this many bytes.
    progress: write progress lines to stderr.
    label: prefix of the progress lines.

  Returns:
    A numpy array of shape (n1, n2, *tail_shape).
  """
  symmetric = x2 is None
  rows = block_slices(len(x1), block_size)
  cols = rows if symmetric else block_slices(len(x2), block_size)
  pairs = [(i, j) for i in range(len(rows))
           for j in range(i if symmetric else 0, len(cols))]
  out = np.empty((len(x1), len(x1) if symmetric else len(x2), *tail_shape), out_dtype)

  def make(side: str, k: int):
    x, (s, e) = (x1, rows[k]) if side == "a" or symmetric else (x2, cols[k])
    return prepare(padded_block(x, s, e, block_size))

  # Probe the size of one prepared block without computing it.
  example = padded_block(x1, *rows[0], block_size)
  per_block = tree_nbytes(jax.eval_shape(prepare, example))
  distinct = len(rows) + (0 if symmetric else len(cols))
  cache_all = per_block * distinct <= cache_bytes
  cache = {}

  def get(side: str, k: int):
    key = ("a" if symmetric else side, k)
    if not cache_all:
      return make(*key)
    if key not in cache:
      cache[key] = make(*key)
    return cache[key]

  meter = Progress(len(pairs), progress, label)
  pending = collections.deque()

  def drain(limit: int) -> None:
    while len(pending) > limit:
      (i, j), block = pending.popleft()
      (r0, r1), (c0, c1) = rows[i], cols[j]
      block = np.asarray(block)
      out[r0:r1, c0:c1] = block[:r1 - r0, :c1 - c0]
      if symmetric and i != j:
        out[c0:c1, r0:r1] = mirror(block)[:c1 - c0, :r1 - r0]
      meter.step()

  row_block = (None, None)   # the row block is always reused along its row
  for i, j in pairs:
    if row_block[0] != i:
      row_block = (i, get("a", i))
    a = row_block[1]
    b = a if symmetric and j == i else get("b", j)
    pending.append(((i, j), pair(a, b)))
    drain(1)  # keep one block in flight so dispatch overlaps the copy-out
  drain(0)
  return out
