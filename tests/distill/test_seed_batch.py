"""The seed-batched step (`kd_ntk.distill.seed_batch`) equals the per-seed
steps to a stated tolerance, and keeps the seeds apart."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from kd_ntk.distill import seed_batch
from kd_ntk.distill.steps import distill_step, scalar
from kd_ntk.grid import records
from kd_ntk.models import get_model
from kd_ntk.train.state import create_state
from kd_ntk.train.steps import train_step

# float32 steps whose convolutions XLA may reassociate when batched (a grouped
# convolution on CPU): after STEPS SGD steps the parameters agree to RTOL/ATOL.
RTOL, ATOL, STEPS, SEEDS, BATCH = 1e-5, 1e-6, 3, 3, 16


def _setup(kd: bool):
  preset, kwargs = records.Student("cnn-w2", "cnn", 2).model()
  model = get_model(preset, 10, **kwargs)
  tx = optax.sgd(0.05, momentum=0.9)
  states = [
    create_state(model, tx, jax.random.PRNGKey(s), (28, 28, 1))
    for s in range(SEEDS)
  ]
  rng = np.random.default_rng(0)
  batches = [
    [
      (
        jnp.asarray(rng.normal(size=(BATCH, 28, 28, 1)), jnp.float32),
        jnp.asarray(rng.integers(0, 10, BATCH), jnp.int32),
        jax.random.PRNGKey(100 + s),
      )
      for s in range(SEEDS)
    ]
    for _ in range(STEPS)
  ]
  if not kd:
    step = functools.partial(train_step, model=model, tx=tx)
    return step, states, batches, ()
  teacher = get_model("mlp", 10, width=16)
  variables = teacher.init(
    jax.random.PRNGKey(7), jnp.zeros((1, 28, 28, 1)), train=False
  )
  step = functools.partial(
    distill_step, model=model, teacher_model=teacher, tx=tx
  )
  shared = ((variables,), np.ones(1, np.float32), scalar(4.0), scalar(0.0))
  return step, states, batches, shared


@pytest.mark.parametrize("kd", [False, True], ids=["labels", "distill"])
def test_batched_step_equals_the_seeds_steps(kd):
  step, states, batches, shared = _setup(kd)
  single = jax.jit(step)
  batched = seed_batch.batched_step(step, shared_args=len(shared))
  alone = list(states)
  together = seed_batch.stack(states)
  for per_seed in batches:
    outs = [single(s, *b, *shared) for s, b in zip(alone, per_seed)]
    alone = [o[0] for o in outs]
    stacked = [jnp.stack(parts) for parts in zip(*per_seed)]
    together, metrics = batched(together, *stacked, *shared)
    for name, value in metrics.items():
      np.testing.assert_allclose(
        value, [o[1][name] for o in outs], rtol=RTOL, atol=ATOL
      )
  for mine, theirs in zip(seed_batch.unstack(together, SEEDS), alone):
    assert int(mine.step) == STEPS
    jax.tree_util.tree_map(
      functools.partial(np.testing.assert_allclose, rtol=RTOL, atol=ATOL),
      mine.params,
      theirs.params,
    )


def test_seeds_do_not_mix():
  """Changing seed 0's batch leaves seeds 1.. exactly as they were."""
  step, states, batches, shared = _setup(True)
  batched = seed_batch.batched_step(step, shared_args=len(shared))
  stacked = [jnp.stack(parts) for parts in zip(*batches[0])]
  first, _ = batched(seed_batch.stack(states), *stacked, *shared)
  stacked[0] = stacked[0].at[0].multiply(-1.0)
  second, _ = batched(seed_batch.stack(states), *stacked, *shared)
  a, b = seed_batch.unstack(first, SEEDS), seed_batch.unstack(second, SEEDS)
  assert not np.allclose(
    jax.tree_util.tree_leaves(a[0].params)[0],
    jax.tree_util.tree_leaves(b[0].params)[0],
  )
  for s in range(1, SEEDS):
    jax.tree_util.tree_map(
      np.testing.assert_array_equal, a[s].params, b[s].params
    )


def test_measure_names_the_faster_form():
  step, states, batches, shared = _setup(False)
  out = seed_batch.measure(
    jax.jit(step),
    seed_batch.batched_step(step),
    states,
    batches=batches[0],
    shared=shared,
    repeats=1,
  )
  assert out["single"] > 0 and out["batched"] > 0
  assert out["chosen"] == min(("single", "batched"), key=out.get)
