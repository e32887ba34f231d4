"""The blocked Gram-matrix driver: padding, symmetry, panels, devices, progress.

Rows and columns are cut into blocks of `block_size` examples; the last block
is padded (with zeros) to the full size so every call of the jitted per-block
functions has the same shapes and nothing recompiles. For a symmetric kernel
(`x2 is None`) only blocks `J >= I` are computed and the rest mirrored.

Each block is first `prepare`d (Jacobian features, or nothing for NTK-vector
products) and pairs of prepared blocks are `pair`ed into kernel blocks.
Preparing is the expensive part for convolutional networks, so row blocks are
taken a *panel* at a time: as many prepared row blocks as fit in
`cache_bytes` stay alive while every column block is prepared once and paired
with all of them. When everything fits (one panel), every block is prepared
exactly once. A symmetric kernel's later columns are taken from the last back
to the next panel's first row, and each device keeps the column block it
prepared last when the next panel needs it as a row (`schedule`), so one
block per device and panel transition is not prepared twice.

Devices: the work of a panel is a list of tasks `(panel rows, column block)`;
`assign_tasks` (a pure function of task costs and the number of devices) puts
each task on one device, where its column block is prepared once and paired
with the panel's row blocks (copied to that device when first needed). Results
do not depend on the assignment: every kernel block is the same computation on
whichever device runs it. A multi-process run calls `assign_tasks` with every
process's devices (`local`: the device indices this process runs); each process
runs only its tasks, leaves the other blocks zero, and the caller sums the
processes' disjoint parts (`kd_ntk.distributed.sum_over_processes`).
"""

import collections
import math
import sys
import time
from typing import (
  Any,
  NamedTuple,
)
from collections.abc import Callable, Sequence

import jax
import numpy as np


class Progress:
  """Blocks done / total, elapsed time and ETA, written to stderr."""

  def __init__(
    self, total: int, enabled: bool, label: str, every_s: float = 2.0
  ):
    self.total, self.enabled, self.label, self.every_s = (
      total,
      enabled,
      label,
      every_s,
    )
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
    eta = (
      elapsed / self.done * (self.total - self.done)
      if self.done
      else float("nan")
    )
    sys.stderr.write(
      f"{self.label}: {self.done}/{self.total} blocks "
      f"({100.0 * self.done / self.total:.0f}%), {elapsed:.1f} s elapsed, "
      f"ETA {eta:.1f} s\n"
    )
    sys.stderr.flush()


def block_slices(n: int, block_size: int) -> list[tuple[int, int]]:
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
  return int(
    sum(
      math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize
      for leaf in jax.tree_util.tree_leaves(tree)
    )
  )


def panels(num_row_blocks: int, panel_blocks: int) -> list[tuple[int, int]]:
  """[(first, stop), ...]: consecutive row blocks, `panel_blocks` at a time."""
  step = max(1, panel_blocks)
  return [
    (s, min(s + step, num_row_blocks)) for s in range(0, num_row_blocks, step)
  ]


def panel_blocks_for(cache_bytes: int, block_bytes: int) -> int:
  """Row blocks per panel: as many as fit in `cache_bytes` beside the one
  column block being paired with them, and at least one."""
  return max(1, cache_bytes // max(1, block_bytes) - 1)


def panel_tasks(
  first: int, stop: int, num_col_blocks: int, symmetric: bool
) -> list[tuple[int, tuple[int, ...]]]:
  """[(column block j, row blocks paired with it), ...] for rows first..stop-1.

  Symmetric kernels pair column j only with rows i <= j (the rest is mirrored),
  the panel's own columns first, then the later ones from the last back to
  `stop`, so that the last column prepared is the next panel's first row.
  """
  order = (
    list(range(first, stop)) + list(range(num_col_blocks - 1, stop - 1, -1))
    if symmetric
    else range(num_col_blocks)
  )
  tasks = []
  for j in order:
    rows = tuple(i for i in range(first, stop) if not symmetric or i <= j)
    if rows:
      tasks.append((j, rows))
  return tasks


def assign_tasks(costs: Sequence[float], num_devices: int) -> list[int]:
  """Device index per task: each task, in order, to the least-loaded device.

  Pure and deterministic (ties go to the lowest index), so every process of
  a multi-process run computes the same assignment from the same costs.
  """
  if num_devices < 1:
    raise ValueError(f"num_devices must be >= 1; got {num_devices}.")
  load = [0.0] * num_devices
  out = []
  for cost in costs:
    d = min(range(num_devices), key=lambda k: (load[k], k))
    load[d] += cost
    out.append(d)
  return out


class PanelWork(NamedTuple):
  """One panel of `blocked_gram`: its row blocks, tasks and their devices."""

  first: int  # row blocks first..stop-1
  stop: int
  tasks: list[tuple[int, tuple[int, ...]]]  # from `panel_tasks`
  devices: list[int]  # device index per task, from `assign_tasks`
  carried: dict[int, int]  # device -> column block kept as a next-panel row


def schedule(
  num_row_blocks: int,
  num_col_blocks: int,
  *,
  panel_blocks: int,
  symmetric: bool,
  num_devices: int,
) -> list[PanelWork]:
  """The panels, tasks and device assignment of `blocked_gram` (pure).

  `carried`: for a symmetric kernel, the last column block each device
  prepares in a panel, when it is a row of the next panel; it is kept (at most
  one extra block per device, while the finished panel is dropped) instead of
  prepared again.
  """
  spans = panels(num_row_blocks, panel_blocks)
  work = []
  for k, (first, stop) in enumerate(spans):
    tasks = panel_tasks(first, stop, num_col_blocks, symmetric)
    devices = assign_tasks([len(r) for _, r in tasks], num_devices)
    next_stop = spans[k + 1][1] if k + 1 < len(spans) else stop
    last = {d: j for (j, _), d in zip(tasks, devices)}  # the later task wins
    carried = {
      d: j for d, j in last.items() if symmetric and stop <= j < next_stop
    }
    work.append(PanelWork(first, stop, tasks, devices, carried))
  return work


def prepared_blocks(work: Sequence[PanelWork], symmetric: bool) -> int:
  """Blocks `blocked_gram` prepares for `work` (rows once per panel, less the
  carried ones; a column each task outside its panel)."""
  count, carried = 0, 0
  for p in work:
    count += (
      (p.stop - p.first)
      - carried
      + sum(1 for j, _ in p.tasks if not (symmetric and p.first <= j < p.stop))
    )
    carried = len(p.carried)
  return count


def blocked_gram(
  prepare: Callable[[np.ndarray, int], Any],
  pair: Callable[[Any, Any, int], jax.Array],
  mirror: Callable[[np.ndarray], np.ndarray],
  *,
  x1: Any,
  x2: Any | None,
  block_size: int,
  tail_shape: Sequence[int],
  out_dtype,
  cache_bytes: int,
  num_devices: int = 1,
  to_device: Callable[[Any, int], Any] | None = None,
  progress: bool = False,
  label: str = "ntk",
  local: Sequence[int] | None = None,
) -> np.ndarray:
  """Assembles the (n1, n2, *tail_shape) kernel from per-block computations.

  Args:
    prepare: (block of inputs (block_size, ...), device index) -> prepared
      block (a pytree) on that device.
    pair: (prepared_a, prepared_b, device index) -> kernel block
      (block_size, block_size, *tail).
    mirror: kernel block of (a, b) -> kernel block of (b, a).
    x1, x2: inputs with a leading example axis; x2 None for the symmetric case.
    block_size: examples per block.
    tail_shape: trailing output axes after (n1, n2).
    out_dtype: numpy dtype of the result.
    cache_bytes: prepared row blocks kept alive at once (per device), in bytes.
    num_devices: devices to spread the tasks over.
    to_device: (prepared block, device index) -> the block on that device;
      needed when num_devices > 1.
    progress: write progress lines to stderr.
    label: prefix of the progress lines.
    local: indices of the devices this process runs (None: all); tasks of the
      other devices are skipped and their blocks left zero.

  Returns:
    A numpy array of shape (n1, n2, *tail_shape) (zero outside this process's
    blocks when `local` is given).
  """
  local = set(range(num_devices) if local is None else local)
  symmetric = x2 is None
  rows = block_slices(len(x1), block_size)
  cols = rows if symmetric else block_slices(len(x2), block_size)
  make_out = np.empty if len(local) == num_devices else np.zeros
  out = make_out(
    (len(x1), len(x1) if symmetric else len(x2), *tail_shape), out_dtype
  )

  def make(side: str, k: int, device: int):
    x, (s, e) = (x1, rows[k]) if side == "a" or symmetric else (x2, cols[k])
    return prepare(padded_block(x, s, e, block_size), device)

  # Probe the size of one prepared block without computing it.
  example = padded_block(x1, *rows[0], block_size)
  per_block = tree_nbytes(
    jax.eval_shape(lambda b: prepare(b, min(local)), example)
  )
  panel_blocks = panel_blocks_for(cache_bytes, per_block)
  work = schedule(
    len(rows),
    len(cols),
    panel_blocks=panel_blocks,
    symmetric=symmetric,
    num_devices=num_devices,
  )
  total = sum(  # Pairs this process computes.
    len(r) for p in work for (_, r), d in zip(p.tasks, p.devices) if d in local
  )
  meter = Progress(total, progress, label)
  pending = collections.deque()

  def drain(limit: int) -> None:
    while len(pending) > limit:
      (i, j), block = pending.popleft()
      (r0, r1), (c0, c1) = rows[i], cols[j]
      block = np.asarray(block)
      out[r0:r1, c0:c1] = block[: r1 - r0, : c1 - c0]
      if symmetric and i != j:
        out[c0:c1, r0:r1] = mirror(block)[: c1 - c0, : r1 - r0]
      meter.step()

  carry = {}  # (row block, device) -> prepared, kept from the last panel
  for first, stop, tasks, devices, carried in work:
    row_cache = carry  # (row block, device) -> prepared, for this panel only
    carry = {}

    def row(i: int, device: int):
      if (i, device) not in row_cache:
        held = [d for (k, d) in row_cache if k == i]
        row_cache[(i, device)] = (
          to_device(row_cache[(i, held[0])], device)
          if held
          else make("a", i, device)
        )
      return row_cache[(i, device)]

    for (j, row_blocks), device in zip(tasks, devices):
      if device not in local:
        continue
      in_panel = symmetric and first <= j < stop
      b = row(j, device) if in_panel else make("b", j, device)
      for i in row_blocks:
        pending.append(((i, j), pair(row(i, device), b, device)))
        # keep blocks in flight so devices overlap the copy-out
        drain(num_devices)
      if carried.get(device) == j:
        carry[(j, device)] = b
      del b
    drain(0)
    row_cache.clear()
  return out
