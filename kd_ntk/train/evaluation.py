"""Whole-split evaluation and prediction with one compiled step per model.

In a multi-process run every process reads only its rows of each evaluation
batch; the sums come back replicated, the logits gathered to every process.
"""

import functools

import jax
import numpy as np

from kd_ntk.data.pipeline import eval_batches, process_rows, shard_process_batch, to_host
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
  for batch in eval_batches(images, labels, batch_size, process_rows(mesh, batch_size)):
    out = step(variables, *shard_process_batch(mesh, batch_size, *batch))
    totals = out if totals is None else jax.tree_util.tree_map(np.add, totals, out)
  totals = jax.device_get(totals)
  return {"loss": float(totals["loss_sum"] / totals["count"]),
          "accuracy": float(totals["correct"] / totals["count"])}


def predict_logits(model, variables, images, batch_size: int, mesh) -> np.ndarray:
  """Inference-mode logits (N, C) for every image, as a float32 numpy array."""
  step = jitted_predict_step(model)
  dummy_labels = np.zeros(len(images), np.int32)
  chunks, rows = [], process_rows(mesh, batch_size)
  for i, (batch_images, _, _) in enumerate(eval_batches(images, dummy_labels, batch_size,
                                                        rows)):
    (sharded,) = shard_process_batch(mesh, batch_size, batch_images)
    logits = to_host(step(variables, sharded))
    chunks.append(logits[:len(images) - i * batch_size])  # Drops the padding rows.
  return np.concatenate(chunks)
