"""A student's metrics rows: the evaluation sets, and per-epoch rows against
labels and teachers (shared by the stored-teacher loop and lock-step).

Train-set metrics (accuracy, fidelity, KL, margins, ECE) are computed in
inference mode on a FIXED class-balanced subset of the training data of
`config.train_eval_size` examples (0 = all), so that an epoch's evaluation costs
a fraction of the epoch; the subset is the same for every epoch and every run
with the same data config. Test metrics use the whole (configured) test split.
"""

import jax
import numpy as np

from kd_ntk import metrics
from kd_ntk.data import class_balanced_subset

SPLITS = ("train", "test")


def eval_sets(splits, config) -> dict[str, tuple]:
  """{"train": (images, labels) of the fixed subset, "test": the same}."""
  n = len(splits.train_labels)
  size = config.train_eval_size
  if size and size < n:
    keep = class_balanced_subset(
      splits.train_labels, size, seed=0, num_classes=splits.info.num_classes
    )
    train = (splits.train_images[keep], splits.train_labels[keep])
  else:
    train = (splits.train_images, splits.train_labels)
  return {"train": train, "test": (splits.test_images, splits.test_labels)}


def logits_on(evaluator, variables, sets) -> dict[str, np.ndarray]:
  """Inference-mode logits of `variables` on every evaluation set (through the
  network's `kd_ntk.train.evaluation.Evaluator`)."""
  return {
    name: evaluator.logits(variables, images)
    for name, (images, _) in sets.items()
  }


def evaluation_row(
  student: dict[str, np.ndarray], sets, current=None, final=None
) -> dict[str, float]:
  """Metrics of the student's logits per split, against labels and teachers.

  For split ∈ {train (the subset), test}: {split}_accuracy, _ece (15 bins), the
  cross-entropy test_loss / train_eval_loss (train_loss is the training
  objective); with the final teacher's logits: _fidelity_final (top-1
  agreement), _kl_final (KL(p_T ‖ p_S) at τ = 1), _margin_final (mean student
  margin ρ w.r.t. the teacher's predicted labels); the same with _current for
  the teacher that taught the epoch, plus teacher_{split}_accuracy of that
  teacher.
  """
  row = {}
  for split in SPLITS:
    logits, labels = student[split], sets[split][1]
    row[f"{split}_accuracy"] = metrics.accuracy(logits, labels)
    # "train_loss" is the epoch's training objective; the subset's CE gets its
    # own name.
    row["test_loss" if split == "test" else "train_eval_loss"] = (
      metrics.cross_entropy(logits, labels)
    )
    row[f"{split}_ece"] = metrics.expected_calibration_error(logits, labels)
    for name, teacher in (("final", final), ("current", current)):
      if teacher is None:
        continue
      t_logits = teacher[split]
      row[f"{split}_fidelity_{name}"] = metrics.fidelity(logits, t_logits)
      row[f"{split}_kl_{name}"] = metrics.kl_divergence(t_logits, logits)
      row[f"{split}_margin_{name}"] = metrics.mean_margin(
        logits, np.argmax(t_logits, -1)
      )
    if current is not None:
      row[f"teacher_{split}_accuracy"] = metrics.accuracy(
        current[split], labels
      )
  return row


def train_row(sums: dict[str, jax.Array], steps: int) -> dict[str, float]:
  """Epoch means of the step metrics: train_loss (the objective), train_kd,
  train_ce, and the train-mode batch accuracy / fidelity."""
  names = {
    "loss": "train_loss",
    "kd": "train_kd",
    "ce": "train_ce",
    "accuracy": "train_batch_accuracy",
    "fidelity": "train_batch_fidelity",
  }
  host = jax.device_get(sums)
  return {names[k]: float(v) / steps for k, v in host.items() if k in names}
