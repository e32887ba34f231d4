"""Training state and optimizer: plain pytrees, no functions inside.

Keeping the model and the optax transformation out of the state means the state
is exactly what orbax saves, and the same step function serves any checkpoint.
"""

import functools
from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training.

  Attributes:
    step: number of optimizer steps taken (int32 scalar).
    params: the model parameters.
    batch_stats: BatchNorm running statistics ({} for models without BatchNorm).
    opt_state: the optax state.
  """

  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any

  def variables(self):
    """The flax variables dict for `model.apply`."""
    if self.batch_stats:
      return {"params": self.params, "batch_stats": self.batch_stats}
    return {"params": self.params}


def learning_rate_schedule(
  opt: ml_collections.ConfigDict, steps_per_epoch: int, epochs: int
) -> optax.Schedule:
  """The per-step learning rate: optional linear warm-up, then cosine or step
  decay.

  `opt.schedule`: "cosine" (to 0 at the last step), "step" (multiply by
  `opt.step_factor` at each fraction of training in `opt.step_boundaries`) or
  "constant".
  """
  total = max(steps_per_epoch * epochs, 1)
  warmup = int(round(opt.get("warmup_epochs", 0) * steps_per_epoch))
  base = opt.learning_rate
  if opt.schedule == "cosine":
    main = optax.cosine_decay_schedule(base, max(total - warmup, 1))
  elif opt.schedule == "step":
    boundaries = {
      int(b * total) - warmup: opt.step_factor for b in opt.step_boundaries
    }
    main = optax.piecewise_constant_schedule(base, boundaries)
  elif opt.schedule == "constant":
    main = optax.constant_schedule(base)
  else:
    raise ValueError(
      f"optimizer.schedule must be cosine, step or constant; "
      f"got {opt.schedule!r}."
    )
  if not warmup:
    return main
  return optax.join_schedules(
    [optax.linear_schedule(0.0, base, warmup), main], [warmup]
  )


def make_optimizer(
  opt: ml_collections.ConfigDict, steps_per_epoch: int, epochs: int
) -> optax.GradientTransformation:
  """SGD with (Nesterov) momentum and decoupled-from-loss L2 weight decay.

  The update is `θ ← θ − η_t (m_t)`, `m_t = μ m_{t−1} + g_t + λ θ` (weight decay
  added to the gradient, the classic ResNet recipe).
  """
  schedule = learning_rate_schedule(opt, steps_per_epoch, epochs)
  return optax.chain(
    optax.add_decayed_weights(opt.weight_decay),
    optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.nesterov),
  )


def create_state(
  model, tx: optax.GradientTransformation, rng: jax.Array, input_shape
) -> TrainState:
  """Initialises parameters, BatchNorm statistics and optimizer state."""
  dummy = jnp.zeros((1, *input_shape), jnp.float32)
  variables = model.init({"params": rng, "dropout": rng}, dummy, train=False)
  params = variables["params"]
  return TrainState(
    step=jnp.zeros((), jnp.int32),
    params=params,
    batch_stats=variables.get("batch_stats", {}),
    opt_state=tx.init(params),
  )


def initial_state(
  model, tx: optax.GradientTransformation, seed: int, input_shape
) -> tuple[Callable[[], TrainState], jax.Array]:
  """(init function, training key): `PRNGKey(seed)` split into the key that
  initialises the network and the key the training steps fold with the step."""
  init_rng, train_rng = jax.random.split(jax.random.PRNGKey(seed))
  return functools.partial(
    create_state, model, tx, init_rng, tuple(input_shape)
  ), train_rng


def replicate(tree, mesh):
  """Places a pytree on every device of the mesh (parameters are replicated).

  Every process must pass the same values (here: a pure function of the seed).
  Across processes the arrays are built from each process's own copy
  (`make_array_from_callback`), not with `jax.device_put`: on JAX 0.5.3 that
  checks equality with one all-reduce per leaf, and repeated on a pytree it
  aborted gloo here ("op.preamble.length <= op.nbytes").
  """
  sharding = NamedSharding(mesh, PartitionSpec())
  if sharding.is_fully_addressable:
    return jax.device_put(tree, sharding)

  def place(leaf):
    host = np.asarray(leaf)
    return jax.make_array_from_callback(
      host.shape, sharding, lambda index: host[index]
    )

  return jax.tree_util.tree_map(place, tree)
