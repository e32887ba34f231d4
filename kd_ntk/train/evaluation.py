"""Whole-split evaluation and prediction of one model, compiled once per
`Evaluator`.

The compiled steps belong to the `Evaluator` that uses them (a run holds one
per network), so nothing outlives the run that made it. The module functions
`evaluate` and `predict_logits` build a throwaway Evaluator: they compile on
every call, so hold an Evaluator when evaluating the same model repeatedly.

In a multi-process run every process reads only its rows of each evaluation
batch; the sums come back replicated, the logits gathered to every process.
"""

import functools

import jax
import numpy as np

from kd_ntk.data.pipeline import (
  eval_batches,
  process_rows,
  shard_process_batch,
  to_host,
)
from kd_ntk.train import steps


class Evaluator:
  """Inference-mode loss, accuracy and logits of `model` over whole splits.

  Args:
    model: the flax module (applied with `train=False`).
    batch_size: examples per compiled call (the last batch is padded and
      masked).
    mesh: batches are sharded over this mesh.
  """

  def __init__(self, model, batch_size: int, mesh):
    self.model, self.batch_size, self.mesh = model, batch_size, mesh
    self._eval_step = jax.jit(functools.partial(steps.eval_step, model=model))
    self._predict_step = jax.jit(
      functools.partial(steps.predict_step, model=model)
    )

  def evaluate(self, variables, images, labels) -> dict[str, float]:
    """Mean cross-entropy and accuracy on a split: {"loss", "accuracy"}."""
    totals, rows = None, process_rows(self.mesh, self.batch_size)
    for batch in eval_batches(images, labels, self.batch_size, rows):
      out = self._eval_step(
        variables, *shard_process_batch(self.mesh, self.batch_size, *batch)
      )
      totals = (
        out if totals is None else jax.tree_util.tree_map(np.add, totals, out)
      )
    totals = jax.device_get(totals)
    return {
      "loss": float(totals["loss_sum"] / totals["count"]),
      "accuracy": float(totals["correct"] / totals["count"]),
    }

  def logits(self, variables, images) -> np.ndarray:
    """Inference-mode logits (N, C) of every image, a float32 numpy array."""
    dummy_labels = np.zeros(len(images), np.int32)
    chunks, rows = [], process_rows(self.mesh, self.batch_size)
    for i, (batch_images, _, _) in enumerate(
      eval_batches(images, dummy_labels, self.batch_size, rows)
    ):
      (sharded,) = shard_process_batch(self.mesh, self.batch_size, batch_images)
      logits = to_host(self._predict_step(variables, sharded))
      # Drops the padding.
      chunks.append(logits[: len(images) - i * self.batch_size])
    return np.concatenate(chunks)


def evaluate(
  model, variables, images, labels, *, batch_size: int, mesh
) -> dict[str, float]:
  """`Evaluator(model, batch_size, mesh).evaluate(...)`; compiles every call."""
  return Evaluator(model, batch_size, mesh).evaluate(variables, images, labels)


def predict_logits(
  model, variables, images, *, batch_size: int, mesh
) -> np.ndarray:
  """`Evaluator(model, batch_size, mesh).logits(...)`; compiles every call."""
  return Evaluator(model, batch_size, mesh).logits(variables, images)
