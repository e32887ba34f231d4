"""A training step over a seed axis: S students of one architecture in one call.

Each student keeps its own parameters, optimizer state, BatchNorm statistics,
key and batch (its own initialisation and data order); the step is
`jax.vmap` of the ordinary step over axis 0 of those, with the arguments every
seed shares (the teacher's variables and mixing weights, τ, α) broadcast:

  (state_S, metrics_S) =
      vmap(step)(state_S, images_SxB, labels_SxB, key_S, *shared)

No quantity crosses the seed axis (no reduction over seeds), so seed s of the
batched step computes what the single step computes for seed s, up to the
floating-point order of the batched kernels: on XLA:CPU a vmapped convolution
becomes a grouped convolution, whose sums may be reassociated. The tests
(tests/distill/test_seed_batch.py) state the tolerance.

Whether it pays is a property of the backend and the student, so it is
measured, not assumed (`measure`,
experiments/benchmarks/bench_seed_batch.py). On the
2-core CPU VM here (width-2 CNN student, cnn_tiny teacher, batch 128, best of
7 under load 9-13) the batched step ran at 0.86x, 0.93x and 0.55x the per-seed
steps for S = 2, 4, 8 (XLA:CPU lowers the per-seed convolutions to grouped
convolutions; a small student's step is memory-bound); one best-of-3 run read
2.5x at S = 2, an artefact of the load (its per-seed time was 3x the
best-of-7's). On a GPU one small student leaves most of the device idle; no
GPU was available to measure it. The reproduction's grid keeps the per-seed
step (`kd_ntk.distill.seed_grid`), whose records equal the single runs'
exactly; this step is not wired into the loop. Its seed axis over devices and
processes: `kd_ntk.distill.seed_shard`.
"""

import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp


def stack(trees: Sequence[Any]) -> Any:
  """S pytrees of one structure as one pytree with a leading seed axis."""
  return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)


def unstack(tree: Any, count: int) -> list[Any]:
  """The S pytrees of a seed-stacked pytree (the inverse of `stack`)."""
  return [
    jax.tree_util.tree_map(lambda x, s=s: x[s], tree) for s in range(count)
  ]


def batched_step(step_fn: Callable, shared_args: int = 0) -> Callable:
  """`jit(vmap(step_fn))` over the seed axis of (state, images, labels, key).

  Args:
    step_fn: `(state, images, labels, key, *shared) -> (state, metrics)`, the
      unjitted step (e.g. `functools.partial(distill_step, model=..., ...)`).
    shared_args: how many trailing arguments every seed shares (broadcast,
      not batched): 4 for the distillation step (teacher variables, weights,
      τ, α), 0 for the label step.

  Returns:
    The jitted batched step; the stacked state is donated.
  """
  in_axes = (0, 0, 0, 0) + (None,) * shared_args
  return jax.jit(jax.vmap(step_fn, in_axes=in_axes), donate_argnums=0)


def measure(
  single: Callable,
  batched: Callable,
  states: Sequence[Any],
  *,
  batches: Sequence[tuple],
  shared: tuple = (),
  repeats: int = 3,
) -> dict[str, float]:
  """Seconds per step of S seeds: one after another vs batched (best of
  `repeats`, each compiled first), and the form that was faster.

  Args:
    single: the jitted per-seed step (not donating, or fed copies).
    batched: `batched_step` of the same step function.
    states: S per-seed states.
    batches: S (images, labels, key) tuples.
    shared: the shared trailing arguments.
  """
  stacked_state = stack(states)
  stacked_batch = [jnp.stack(parts) for parts in zip(*batches)]

  def run_single():
    out = [single(s, *b, *shared) for s, b in zip(states, batches)]
    jax.block_until_ready(out)

  def run_batched():
    jax.block_until_ready(
      batched(
        jax.tree_util.tree_map(jnp.copy, stacked_state), *stacked_batch, *shared
      )
    )

  best = {}
  for name, fn in (("single", run_single), ("batched", run_batched)):
    fn()  # Compiles.
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      fn()
      times.append(time.perf_counter() - start)
    best[name] = min(times)
  best["chosen"] = "batched" if best["batched"] < best["single"] else "single"
  return best
