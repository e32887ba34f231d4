"""The JAX side of `bench_train.py`: timed steppers of the label and KD steps.

A stepper is `run(n)`: n jitted steps on one fixed batch of random inputs,
waiting for the last; it keeps its own train state between calls (the state is
donated to each step). `seconds_per_epoch` times one pass over a data set.
The PyTorch counterpart is `torch_reference.py`.
"""

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk import data, models
from kd_ntk.configs import teacher
from kd_ntk.distill.steps import jit_distill_step, scalar
from kd_ntk.train import state as state_lib, steps


def input_shape(name):
  return (
    (32, 32, 3) if name.startswith(("resnet", "mobilenet")) else (28, 28, 1)
  )


def _batch(name, batch_size):
  rng = np.random.default_rng(0)
  images = jnp.asarray(
    rng.normal(size=(batch_size, *input_shape(name))), jnp.float32
  )
  return images, jnp.asarray(rng.integers(0, 10, batch_size), jnp.int32)


def _optimizer():
  return state_lib.make_optimizer(teacher.get_config("").optimizer, 100, 1)


def label_stepper(name, batch_size):
  """run(n): n label steps of preset `name` on one batch; waits for the last."""
  model, tx = models.get_model(name, 10), _optimizer()
  holder = [
    state_lib.create_state(model, tx, jax.random.PRNGKey(0), input_shape(name))
  ]
  step = jax.jit(
    functools.partial(steps.train_step, model=model, tx=tx), donate_argnums=0
  )
  images, labels = _batch(name, batch_size)
  key = jax.random.PRNGKey(0)

  def run(n):
    state = holder[0]
    for _ in range(n):
      state, metrics = step(state, images, labels, key)
    jax.block_until_ready(metrics)
    holder[0] = state

  return run


def xla_conv_grad_stepper(batch_size):
  """LeNet-5's `label_stepper`, traced with `kd_ntk.models.conv_grad` off
  (XLA's own convolution gradients): the in-process reference of that lever."""
  from kd_ntk.models import conv_grad  # pylint: disable=g-import-not-at-top

  with conv_grad.disabled():
    run = label_stepper("lenet5", batch_size)
    run(1)  # Traced and compiled now, while the lever is off.
  return run


def other_pool_stepper(batch_size):
  """(name, run): LeNet-5's `label_stepper`, traced with the training pool
  that `kd_ntk.models.pooling.training_form` does *not* pick on this runtime
  (`first_max_pool` or `one_hot_pool`): the in-process reference of that
  choice."""
  from unittest import mock  # pylint: disable=g-import-not-at-top
  from kd_ntk.models import pooling  # pylint: disable=g-import-not-at-top

  default = pooling.training_form()
  ((name, other),) = [
    (n, getattr(pooling, n))
    for n in ("first_max_pool", "one_hot_pool")
    if getattr(pooling, n) is not default
  ]
  with mock.patch.object(pooling, "training_form", lambda: other):
    run = label_stepper("lenet5", batch_size)
    run(1)  # Traced and compiled now, while the other form is in place.
  return name, run


def kd_stepper(student, teacher_name, batch_size):
  """run(n): n KD steps (student update + teacher forward) on a fixed batch."""
  model, teacher_model, tx = (
    models.get_model(student, 10),
    models.get_model(teacher_name, 10),
    _optimizer(),
  )
  holder = [
    state_lib.create_state(
      model, tx, jax.random.PRNGKey(0), input_shape(student)
    )
  ]
  teacher_vars = state_lib.create_state(
    teacher_model, tx, jax.random.PRNGKey(1), input_shape(student)
  ).variables()
  step = jit_distill_step(model=model, teacher_model=teacher_model, tx=tx)
  images, labels = _batch(student, batch_size)
  key, weights = jax.random.PRNGKey(0), np.ones(1, np.float32)

  def run(n):
    state = holder[0]
    for _ in range(n):
      state, metrics = step(
        state,
        images,
        labels,
        key,
        (teacher_vars,),
        weights,
        scalar(4.0),
        scalar(0.0),
      )
    jax.block_until_ready(metrics)
    holder[0] = state

  return run


def seconds_per_epoch(name, splits, batch_size):
  model, tx = models.get_model(name, 10), _optimizer()
  state = state_lib.create_state(
    model, tx, jax.random.PRNGKey(0), input_shape(name)
  )
  step = jax.jit(
    functools.partial(steps.train_step, model=model, tx=tx), donate_argnums=0
  )
  key = jax.random.PRNGKey(0)
  batches = data.train_batches(
    splits.train_images, splits.train_labels, batch_size, seed=0, epoch=1
  )
  first_images, first_labels = next(batches)
  # Compile outside the timing.
  state, metrics = step(state, first_images, first_labels, key)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for images, labels in batches:
    state, metrics = step(state, images, labels, key)
  jax.block_until_ready(metrics)
  return time.perf_counter() - start
