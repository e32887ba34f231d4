"""One process of the seed-sharded step test (run by tests/distill/test_seed_shard.py).

SEEDS width-2 CNN students distilled from a small MLP teacher for STEPS steps
by `kd_ntk.distill.seed_shard.sharded_step`, their seed axis over every device
of every process (one process with 4 CPU devices, or 2 processes x 2 joined by
`jax.distributed`). Each process builds only its own seeds' states and batches
and writes what it holds to OUT/seed_shard_<i>.npz: its seed range, the
parameters and metrics of those seeds, the device layout and the collectives
found in the compiled step. `problem` is shared with the test, which computes
the unsharded references.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from kd_ntk import distributed
from kd_ntk.distill import seed_batch, seed_shard
from kd_ntk.distill.steps import distill_step, scalar
from kd_ntk.grid import records
from kd_ntk.models import get_model
from kd_ntk.train.state import create_state

FLAGS = flags.FLAGS
SEEDS, STEPS, BATCH = 8, 3, 8


def problem(seeds):
  """(step_fn, states, batches, shared) for the given seed indices.

  batches[t] holds, per seed, the (images, labels, key) of step t: each seed
  its own data and key, a pure function of the seed index, so every process
  (and the test) builds the same seed the same way.
  """
  preset, kwargs = records.Student("cnn-w2", "cnn", 2).model()
  model = get_model(preset, 10, **kwargs)
  tx = optax.sgd(0.05, momentum=0.9)
  states = [
    create_state(model, tx, jax.random.PRNGKey(s), (28, 28, 1)) for s in seeds
  ]
  batches = []
  for t in range(STEPS):
    per_seed = []
    for s in seeds:
      rng = np.random.default_rng(1000 * s + t)
      per_seed.append(
        (
          rng.normal(size=(BATCH, 28, 28, 1)).astype(np.float32),
          rng.integers(0, 10, BATCH).astype(np.int32),
          np.asarray(jax.random.PRNGKey(100 + s)),
        )
      )
    batches.append(per_seed)
  teacher = get_model("mlp", 10, width=16)
  variables = teacher.init(
    jax.random.PRNGKey(7), jnp.zeros((1, 28, 28, 1)), train=False
  )
  step = functools.partial(
    distill_step, model=model, teacher_model=teacher, tx=tx
  )
  shared = ((variables,), np.ones(1, np.float32), scalar(4.0), scalar(0.0))
  return step, states, batches, shared


def main(argv):
  del argv
  distributed.initialize_from_flags()
  mesh = seed_shard.seed_mesh()
  mine = seed_shard.process_seeds(SEEDS, mesh)
  step, states, batches, shared = problem(mine)
  sharded = seed_shard.sharded_step(step, mesh, shared_args=len(shared))
  shared = seed_shard.replicate_shared(shared, mesh)
  state = seed_shard.place(seed_batch.stack(states), mesh, SEEDS)
  metrics, compiled = [], None
  for per_seed in batches:
    stacked = tuple(np.stack(parts) for parts in zip(*per_seed))
    args = seed_shard.place(stacked, mesh, SEEDS)
    if compiled is None:  # Compiled once; its HLO is what every step runs.
      compiled = sharded.lower(state, *args, *shared).compile()
      found = seed_shard.collectives(compiled.as_text())
    state, out = compiled(state, *args, *shared)
    metrics.append(seed_shard.local_block(out))
  params = jax.tree_util.tree_leaves(seed_shard.local_block(state.params))
  np.savez(
    os.path.join(FLAGS.out, f"seed_shard_{jax.process_index()}.npz"),
    seeds=np.asarray(list(mine)),
    steps=seed_shard.local_block(state.step),
    collectives=np.asarray(found, dtype=str),
    layout=np.asarray(
      [jax.process_index(), jax.process_count(), jax.device_count()]
    ),
    **{f"param_{i}": p for i, p in enumerate(params)},
    **{f"{k}_{t}": v for t, m in enumerate(metrics) for k, v in m.items()},
  )
  print(f"process {jax.process_index()}: seeds {list(mine)}", flush=True)


if __name__ == "__main__":
  flags.DEFINE_string(
    "out", None, "Output folder."
  )  # Here: tests import this module.
  app.run(main)
