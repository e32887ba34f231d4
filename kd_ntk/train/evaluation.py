"""Whole-split evaluation and prediction with one compiled step per model."""

import functools

import jax
import numpy as np

from kd_ntk.data.pipeline import eval_batches, shard_batch
from kd_ntk.train import steps


@functools.lru_cache(maxsize=None)
def jitted_eval_step(model):
  return jax.jit(functools.partial(steps.eval_step, model=model))


@functools.lru_cache(maxsize=None)
def jitted_predict_step(model):
  return jax.jit(functools.partial(steps.predict_step, model=model))


def evaluate(model, variables, images, labels, batch_size: int, mesh):
  """Mean cross-entropy and accuracy of `model` on a whole split.

  Returns:
    {"loss": float, "accuracy": float}
  """
  step = jitted_eval_step(model)
  totals = None
  for batch in eval_batches(images, labels, batch_size):
    out = step(variables, *shard_batch(mesh, *batch))
    totals = out if totals is None else jax.tree_util.tree_map(np.add, totals, out)
  totals = jax.device_get(totals)
  return {"loss": float(totals["loss_sum"] / totals["count"]),
          "accuracy": float(totals["correct"] / totals["count"])}


def predict_logits(model, variables, images, batch_size: int, mesh) -> np.ndarray:
  """Inference-mode logits (N, C) for every image, as a float32 numpy array."""
  step = jitted_predict_step(model)
  dummy_labels = np.zeros(len(images), np.int32)
  chunks = []
  for batch_images, _, mask in eval_batches(images, dummy_labels, batch_size):
    (sharded,) = shard_batch(mesh, batch_images)
    logits = np.asarray(step(variables, sharded))
    chunks.append(logits[mask > 0])
  return np.concatenate(chunks)
