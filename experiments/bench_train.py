"""Training-step throughput per model preset, and seconds per Fashion-MNIST epoch.

  python experiments/bench_train.py                      # all presets below
  python experiments/bench_train.py --models=lenet5,cnn --epoch_models=

Prints one JSON line per measurement. `ratio_vs_reference` divides a preset's
images/second by the reference preset's (LeNet-5, the paper's small student)
measured in the same process, so the ratios survive a busy machine better than
the absolute numbers.
"""

import functools
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from kd_ntk import data, models
from kd_ntk.configs import teacher
from kd_ntk.train import state as state_lib, steps

_MODELS = flags.DEFINE_list(
    "models", ["mlp16", "mlp128", "lenet5", "lenet5x8", "cnn_tiny", "cnn", "resnet8",
               "resnet20", "mobilenetv3_narrow"], "Presets to time at batch 128.")
_EPOCH_MODELS = flags.DEFINE_list("epoch_models", ["mlp128", "lenet5", "cnn"],
                                  "Presets timed for one full Fashion-MNIST epoch.")
_REFERENCE = flags.DEFINE_string("reference", "lenet5", "Preset the ratios divide by.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size.")
_STEPS = flags.DEFINE_integer("steps", 30, "Timed steps per preset (after warm-up).")


def input_shape(name):
  return (32, 32, 3) if name.startswith(("resnet", "mobilenet")) else (28, 28, 1)


def make_step(name):
  model = models.get_model(name, 10)
  tx = state_lib.make_optimizer(teacher.get_config("").optimizer, 100, 1)
  state = state_lib.create_state(model, tx, jax.random.PRNGKey(0), input_shape(name))
  step = jax.jit(functools.partial(steps.train_step, model=model, tx=tx), donate_argnums=0)
  return state, step


def images_per_second(name, batch_size, num_steps):
  state, step = make_step(name)
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(batch_size, *input_shape(name))), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 10, batch_size))
  key = jax.random.PRNGKey(0)
  for _ in range(3):  # Compile and warm up.
    state, metrics = step(state, images, labels, key)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(num_steps):
    state, metrics = step(state, images, labels, key)
  jax.block_until_ready(metrics)
  return batch_size * num_steps / (time.perf_counter() - start)


def seconds_per_epoch(name, splits, batch_size):
  state, step = make_step(name)
  key = jax.random.PRNGKey(0)
  batches = data.train_batches(splits.train_images, splits.train_labels, batch_size, 0, 1)
  first_images, first_labels = next(batches)
  state, metrics = step(state, first_images, first_labels, key)  # Compile outside the timing.
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for images, labels in batches:
    state, metrics = step(state, images, labels, key)
  jax.block_until_ready(metrics)
  return time.perf_counter() - start


def main(argv):
  del argv
  common = {"batch_size": _BATCH.value, "devices": jax.device_count(),
            "backend": jax.default_backend()}
  names = list(dict.fromkeys([_REFERENCE.value] + _MODELS.value))
  throughput = {}
  for name in names:
    throughput[name] = images_per_second(name, _BATCH.value, _STEPS.value)
    print(json.dumps({"what": "train_step_images_per_second", "model": name,
                      "images_per_second": round(throughput[name], 1),
                      "ratio_vs_reference": round(throughput[name] / throughput[_REFERENCE.value], 3),
                      "reference": _REFERENCE.value, **common}), flush=True)
  if _EPOCH_MODELS.value:
    splits = data.prepare_splits("fashion_mnist")
    for name in _EPOCH_MODELS.value:
      seconds = seconds_per_epoch(name, splits, _BATCH.value)
      print(json.dumps({"what": "fashion_mnist_epoch_seconds", "model": name,
                        "seconds": round(seconds, 2), "examples": len(splits.train_labels),
                        **common}), flush=True)


if __name__ == "__main__":
  app.run(main)
