"""The students the seed-axis benchmarks time, and their batches.

`case(width=, mode=, count=, batch=)` gives (step_fn, states, batches,
shared) for `count` seeds of the quick reproduction's width-w CNN student on
random 28x28 images: taught by the quick teacher's architecture (cnn_tiny,
channels (16, 32), hidden 64, randomly initialised: the cost does not depend
on its weights) at τ=4 (`distill`), or on labels (`labels`). Seed s has its
own initialisation, batch and key. Imported by bench_seed_batch.py,
bench_seed_shard.py and bench_scan_steps.py from their own folder.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from kd_ntk.distill.steps import distill_step, scalar
from kd_ntk.grid import records
from kd_ntk.models import get_model
from kd_ntk.train.state import create_state
from kd_ntk.train.steps import train_step


def case(*, width: int, mode: str, count: int, batch: int = 128):
  """(step_fn, states, batches, shared); batches[s] = (images, labels, key)."""
  if mode not in ("distill", "labels"):
    raise ValueError(f"mode={mode!r}: use distill or labels.")
  preset, kwargs = records.Student(f"cnn-w{width}", "cnn", width).model()
  model = get_model(preset, 10, **kwargs)
  tx = optax.sgd(0.05, momentum=0.9)
  states = [
    create_state(model, tx, jax.random.PRNGKey(s), (28, 28, 1))
    for s in range(count)
  ]
  rng = np.random.default_rng(0)
  batches = [
    (
      jnp.asarray(rng.normal(size=(batch, 28, 28, 1)), jnp.float32),
      jnp.asarray(rng.integers(0, 10, batch), jnp.int32),
      jax.random.PRNGKey(100 + s),
    )
    for s in range(count)
  ]
  if mode == "labels":
    return (
      functools.partial(train_step, model=model, tx=tx),
      states,
      batches,
      (),
    )
  teacher = get_model("cnn_tiny", 10, channels=(16, 32), hidden=64)
  variables = teacher.init(
    jax.random.PRNGKey(7), jnp.zeros((1, 28, 28, 1)), train=False
  )
  step = functools.partial(
    distill_step, model=model, teacher_model=teacher, tx=tx
  )
  shared = ((variables,), np.ones(1, np.float32), scalar(4.0), scalar(0.0))
  return step, states, batches, shared
