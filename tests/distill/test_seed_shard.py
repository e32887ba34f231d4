"""The seed-sharded step (`kd_ntk.distill.seed_shard`) over 1 process x 4 CPU
devices and over 2 processes x 2 CPU devices (`jax.distributed` on localhost):
each seed equals the unsharded seed-batched step and the single step, and the
compiled step holds no collective between seeds.

The sharded runs happen in subprocesses (tests/multihost/seed_shard_worker.py)
so their device layouts leave this process alone; the references are computed
here on one device.
"""

import os

import jax
import numpy as np
import pytest
from multihost.seed_shard_worker import SEEDS, STEPS, problem

from kd_ntk import local_processes as harness
from kd_ntk.distill import seed_batch, seed_shard

WORKER = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
  "multihost",
  "seed_shard_worker.py",
)
# float32 SGD steps whose convolutions run in another order when batched or
# sharded (grouped convolutions of S or S/D groups): after STEPS steps each
# parameter leaf of each seed agrees to ULPS float32 ε of that leaf's largest
# magnitude (seen here: at most 31 ε), each metric to ULPS ε relative.
EPS = float(np.finfo(np.float32).eps)
ULPS = 256
TOL = ULPS * EPS


@pytest.fixture(scope="module")
def references():
  """(batched, single): per seed, its parameter leaves and metrics per step."""
  step, states, batches, shared = problem(range(SEEDS))
  single, batched = jax.jit(step), seed_batch.batched_step(step, len(shared))
  alone, together, metrics = list(states), seed_batch.stack(states), []
  single_metrics = []
  for per_seed in batches:
    outs = [single(s, *b, *shared) for s, b in zip(alone, per_seed)]
    alone = [o[0] for o in outs]
    single_metrics.append({k: [o[1][k] for o in outs] for k in outs[0][1]})
    stacked = [np.stack(parts) for parts in zip(*per_seed)]
    together, out = batched(together, *stacked, *shared)
    metrics.append(out)
  leaves = lambda tree: [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]
  return (
    (leaves(together.params), metrics),
    (leaves(seed_batch.stack([s.params for s in alone])), single_metrics),
  )


def run(tmp_path, processes: int, devices: int) -> list[dict]:
  args = [WORKER, f"--out={tmp_path}"]
  logs = str(tmp_path / "logs")
  if processes == 1:
    harness.run_single(args, devices=devices, logdir=logs, timeout=120)
  else:
    harness.run_processes(
      args,
      num_processes=processes,
      devices_per_process=devices,
      logdir=logs,
      timeout=120,
    )
  return [
    dict(np.load(tmp_path / f"seed_shard_{i}.npz")) for i in range(processes)
  ]


def assert_seeds_match(held: list[dict], reference) -> None:
  params, metrics = reference
  seen = np.concatenate([h["seeds"] for h in held])
  np.testing.assert_array_equal(seen, np.arange(SEEDS))  # Each seed once.
  for h in held:
    seeds = h["seeds"]
    np.testing.assert_array_equal(h["steps"], [STEPS] * len(seeds))
    for i, ref in enumerate(params):
      mine = h[f"param_{i}"]
      for j, s in enumerate(seeds):
        scale = np.abs(ref[s]).max()
        np.testing.assert_allclose(mine[j], ref[s], rtol=0, atol=TOL * scale)
    for t in range(STEPS):
      for name, value in metrics[t].items():
        np.testing.assert_allclose(
          h[f"{name}_{t}"],
          np.asarray(value)[seeds],
          rtol=TOL,
          atol=TOL,
          err_msg=f"{name} at step {t}",
        )


@pytest.mark.parametrize("processes,devices", [(1, 4), (2, 2)])
def test_sharded_seeds_equal_batched_and_single_steps(
  tmp_path, references, processes, devices
):
  held = run(tmp_path, processes, devices)
  for i, h in enumerate(held):
    assert list(h["layout"]) == [i, processes, 4]
    assert len(h["seeds"]) == SEEDS // processes
    assert list(h["collectives"]) == []  # No all-reduce / all-gather.
  batched, single = references
  assert_seeds_match(held, batched)
  assert_seeds_match(held, single)


def test_collectives_are_found_in_compiled_hlo():
  """The detector is not blind: a sum over the seed axis compiles to one."""
  mesh = seed_shard.seed_mesh()
  x = seed_shard.place(np.ones((mesh.size, 3), np.float32), mesh, mesh.size)
  text = jax.jit(lambda a: a.sum(0)).lower(x).compile().as_text()
  assert "all-reduce" in seed_shard.collectives(text)
  assert seed_shard.collectives("%x = f32[2] add(%a, %b)") == []


def test_refuses_seeds_that_do_not_split_over_the_devices():
  mesh = seed_shard.seed_mesh()
  with pytest.raises(ValueError, match="cannot be split over"):
    seed_shard.check_seeds(mesh.size + 1, mesh)
  with pytest.raises(ValueError, match="does not lead with"):
    seed_shard.place(np.zeros((1, 2)), mesh, mesh.size)
  assert seed_shard.process_seeds(2 * mesh.size, mesh) == range(2 * mesh.size)
