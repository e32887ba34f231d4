"""The seed-batched step with its seed axis sharded over devices and processes.

`kd_ntk.distill.seed_batch` trains S students of one architecture in one call
(`vmap` of the step over a leading seed axis). Here that axis is laid out over
a one-axis mesh ("seeds",) of every device of every process: with D devices,
device d holds seeds [d·S/D, (d+1)·S/D) (states, batches, keys) and runs the
vmapped step on them alone,

  (state_S, metrics_S)[block d] = vmap(step)(state_S[block d], ..., *shared)

through `shard_map`, so no collective is ever emitted: seeds never exchange a
gradient, a statistic or a metric (the compiled HLO holds no all-reduce,
all-gather, reduce-scatter, all-to-all or collective-permute; `collectives`
finds them, tests/distill/test_seed_shard.py asserts there are none). The
arguments every seed shares (teacher variables, mixing weights, τ, α) are
replicated on every device. Why `shard_map` and not `jit` with seed-sharded
in/out shardings: XLA's automatic partitioner, given the vmapped step so (JAX
0.5.3, 4 CPU devices, 8 seeds), compiled 24 all-gathers into it, of every
seed's images (f32[64,28,28,1]) and of the grouped convolutions' kernels: it
does not see that the seeds stay apart. Devices are ordered by process, so
process p holds one contiguous block of seeds (`process_seeds`), builds only
those (`place` from its local block) and reads back only those
(`local_block`).

Seed s of the sharded step computes what seed s of the unsharded batched step
and of the single step compute, up to the floating-point order of the kernels
(a device's vmapped convolution over S/D seeds is a grouped convolution of
S/D groups, not S). The test states the tolerance in units of float32 ε.

Measured (experiments/benchmarks/bench_seed_shard.py; width-2 CNN student,
batch 128, S = 2, 4, 8 seeds, 2-core CPU VM at load 4-8 beside a nice'd
experiment; experiments/results/benchmarks/seed_sharded_step_w2_cpu.jsonl),
step throughput against the per-seed steps of one single-device process (the
one-process grid's training steps), two rounds:
  2 processes x 1 device   1.55-3.09x (distill), 1.74-2.53x (labels): one
                           process's small-op step keeps about one core busy;
  1 process x 2 devices    0.68-2.0x, mostly 0.8-1.1x: XLA:CPU (JAX 0.5.3,
                           legacy runtime) does not run the two host devices'
                           shares side by side;
  unsharded batched        0.69-1.71x, mostly 0.7-1.0x (grouped convolutions).
On XLA's default CPU runtime (KD_NTK_XLA_DEFAULTS=0; ..._thunk_runtime.jsonl,
one round) the per-seed step is 1.05-1.6x slower and already uses both cores:
2 processes give 0.66-1.94x over it. Steps only: batches
already on the devices, no evaluation, data loading or compilation; the grid's
end-to-end run with two worker processes was slower than one process
(docs/students.md). On a GPU or TPU one small student leaves a device mostly
idle; that is the layout this module is for (not measured: no accelerator).
Not wired into the loop.
"""

import re
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from kd_ntk.train.state import replicate

AXIS = "seeds"
_COLLECTIVE = re.compile(
  r"\b(all-reduce|all-gather|reduce-scatter|all-to-all|collective-permute"
  r"|collective-broadcast)(-start|-done)?\b"
)

if hasattr(jax, "shard_map"):  # JAX >= 0.7.
  _shard_map = jax.shard_map
else:  # The pinned JAX 0.5.3.
  from jax.experimental.shard_map import shard_map as _shard_map


def seed_mesh(devices: Sequence[Any] | None = None) -> Mesh:
  """A one-axis mesh ("seeds",) over all (or the given) devices of every
  process, grouped by process so each process owns one block of seeds."""
  devices = jax.devices() if devices is None else list(devices)
  ordered = sorted(devices, key=lambda d: (d.process_index, d.id))
  return Mesh(np.asarray(ordered), (AXIS,))


def check_seeds(count: int, mesh: Mesh) -> None:
  """Raises ValueError unless `count` seeds split evenly over the mesh."""
  if count < 1 or count % mesh.size:
    raise ValueError(
      f"{count} seeds cannot be split over {mesh.size} devices; use a "
      f"positive multiple of {mesh.size} seeds (or fewer devices)."
    )


def process_seeds(count: int, mesh: Mesh) -> range:
  """The seeds whose states and batches this process holds (contiguous)."""
  check_seeds(count, mesh)
  per_device = count // mesh.size
  mine = [
    i
    for i, d in enumerate(mesh.devices.flat)
    if d.process_index == jax.process_index()
  ]
  return range(mine[0] * per_device, (mine[-1] + 1) * per_device)


def seed_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec(AXIS))


def place(local_tree: Any, mesh: Mesh, count: int) -> Any:
  """Global arrays of `count` seeds from this process's block of them.

  Args:
    local_tree: a pytree whose leaves have a leading axis of this process's
      seeds, `process_seeds(count, mesh)` in order (all seeds with one process).
    mesh: `seed_mesh()`.
    count: S, the seeds of all processes.
  """
  held = len(process_seeds(count, mesh))
  sharding = seed_sharding(mesh)

  def one(leaf):
    host = np.asarray(leaf)
    if host.shape[:1] != (held,):
      raise ValueError(
        f"A leaf of shape {host.shape} does not lead with this process's "
        f"{held} seeds; stack process_seeds(count, mesh) along axis 0."
      )
    return jax.make_array_from_process_local_data(
      sharding, host, (count,) + host.shape[1:]
    )

  return jax.tree_util.tree_map(one, local_tree)


def local_block(tree: Any) -> Any:
  """This process's seeds of a seed-sharded pytree as numpy, in seed order
  (the inverse of `place`)."""

  def one(leaf):
    shards = sorted(leaf.addressable_shards, key=lambda s: s.index[0].start)
    return np.concatenate([np.asarray(s.data) for s in shards])

  return jax.tree_util.tree_map(one, tree)


def replicate_shared(shared: tuple, mesh: Mesh) -> tuple:
  """The shared trailing arguments on every device (equal in every process)."""
  return replicate(shared, mesh)


def sharded_step(
  step_fn: Callable, mesh: Mesh, shared_args: int = 0
) -> Callable:
  """`jit(shard_map(vmap(step_fn)))`: each device steps its own seeds.

  Args:
    step_fn: `(state, images, labels, key, *shared) -> (state, metrics)`, the
      unjitted step (as for `seed_batch.batched_step`).
    mesh: `seed_mesh()`; the seed count must be a multiple of its size.
    shared_args: how many trailing arguments every seed shares (replicated).

  Returns:
    The jitted step on seed-sharded (state, images, labels, keys) and
    replicated shared arguments; returns seed-sharded (state, metrics). The
    state is donated.
  """
  in_axes = (0, 0, 0, 0) + (None,) * shared_args
  seeds, everyone = PartitionSpec(AXIS), PartitionSpec()
  per_device = _shard_map(
    jax.vmap(step_fn, in_axes=in_axes),
    mesh=mesh,
    in_specs=(seeds,) * 4 + (everyone,) * shared_args,
    out_specs=(seeds, seeds),
  )
  return jax.jit(per_device, donate_argnums=0)


def collectives(compiled_text: str) -> list[str]:
  """The collective operations in compiled HLO text (`.compile().as_text()`)."""
  return sorted({m.group(1) for m in _COLLECTIVE.finditer(compiled_text)})
