"""The student's side of a distillation run, shared by the stored-teacher loop and
lock-step: optimizer, initial or resumed state, evaluation sets, per-epoch rows.

Train-set metrics (accuracy, fidelity, KL, margins, ECE) are computed in
inference mode on a FIXED class-balanced subset of the training data of
`config.train_eval_size` examples (0 = all), so that an epoch's evaluation costs
a fraction of the epoch; the subset is the same for every epoch and every run
with the same data config. Test metrics use the whole (configured) test split.
"""

import copy
import functools
import json
import os
import sys
from typing import Dict, Optional

import jax
import ml_collections
import numpy as np

from kd_ntk import metrics
from kd_ntk.data import class_balanced_subset
from kd_ntk.train import checkpoint, workdir as wd
from kd_ntk.train.evaluation import predict_logits
from kd_ntk.train.loop import replicate
from kd_ntk.train.state import create_state, learning_rate_schedule, make_optimizer

SPLITS = ("train", "test")
DIVERGED_FILE = "diverged.json"


def student_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int):
  """(optax transformation, learning-rate schedule) of the student.

  With distill.lr_scale = "inverse_tau_squared" the peak learning rate is divided
  by τ_max², τ_max the largest temperature of the run: the τ² factor of the KD loss
  then no longer multiplies the SGD step (the pilot's LeNet-5 at τ=4 diverged
  without it). "inverse_tau" divides by τ_max, a milder correction: at large τ
  the gradient of τ²·KL w.r.t. the logits, τ·(p_S^τ − p_T^τ), grows about
  linearly in τ early in training, when the logits are still far apart.
  """
  opt = config.optimizer
  d = config.distill
  if d.lr_scale != "none" and d.mode != "none":
    tau_max = max(d.temperature, d.temperature_start if d.temperature_schedule != "constant"
                  else d.temperature)
    opt = copy.deepcopy(opt)
    power = 2 if d.lr_scale == "inverse_tau_squared" else 1
    opt.learning_rate = opt.learning_rate / tau_max ** power
  return (make_optimizer(opt, steps_per_epoch, config.epochs),
          learning_rate_schedule(opt, steps_per_epoch, config.epochs))


def initial_state(model, tx, config, image_shape, mesh):
  """(init function, training key): the same split of `config.seed` as the teacher loop."""
  init_rng, train_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  init = functools.partial(create_state, model, tx, init_rng, tuple(image_shape))
  return init, train_rng


def start_or_resume(mngr, init, mesh, resumed: bool, workdir: str):
  """(state, latest saved epoch or None): restores the latest checkpoint when resuming."""
  latest = mngr.latest_step() if resumed else None
  if latest is None:
    return replicate(init(), mesh), None
  abstract = checkpoint.abstract_replicated(jax.eval_shape(init), mesh)
  wd.truncate_metrics(workdir, latest)
  return checkpoint.restore(mngr, latest, abstract), latest


def eval_sets(splits, config) -> Dict[str, tuple]:
  """{"train": (images, labels) of the fixed subset, "test": (images, labels)}."""
  n = len(splits.train_labels)
  size = config.train_eval_size
  if size and size < n:
    keep = class_balanced_subset(splits.train_labels, size, seed=0,
                                 num_classes=splits.info.num_classes)
    train = (splits.train_images[keep], splits.train_labels[keep])
  else:
    train = (splits.train_images, splits.train_labels)
  return {"train": train, "test": (splits.test_images, splits.test_labels)}


def logits_on(model, variables, sets, batch_size: int, mesh) -> Dict[str, np.ndarray]:
  """Inference-mode logits of `variables` on every evaluation set."""
  return {name: predict_logits(model, variables, images, batch_size, mesh)
          for name, (images, _) in sets.items()}


def evaluation_row(student: Dict[str, np.ndarray], sets, current=None, final=None
                   ) -> Dict[str, float]:
  """Metrics of the student's logits per split, against labels and teachers.

  For split ∈ {train (the subset), test}: {split}_accuracy, _ece (15 bins), the
  cross-entropy test_loss / train_eval_loss (train_loss is the training objective);
  with the final teacher's logits: _fidelity_final (top-1 agreement), _kl_final
  (KL(p_T ‖ p_S) at τ = 1), _margin_final (mean student margin ρ w.r.t. the
  teacher's predicted labels); the same with _current for the teacher that
  taught the epoch, plus teacher_{split}_accuracy of that teacher.
  """
  row = {}
  for split in SPLITS:
    logits, labels = student[split], sets[split][1]
    row[f"{split}_accuracy"] = metrics.accuracy(logits, labels)
    # "train_loss" is the epoch's training objective; the subset's CE gets its own name.
    row["test_loss" if split == "test" else "train_eval_loss"] = metrics.cross_entropy(
        logits, labels)
    row[f"{split}_ece"] = metrics.expected_calibration_error(logits, labels)
    for name, teacher in (("final", final), ("current", current)):
      if teacher is None:
        continue
      t_logits = teacher[split]
      row[f"{split}_fidelity_{name}"] = metrics.fidelity(logits, t_logits)
      row[f"{split}_kl_{name}"] = metrics.kl_divergence(t_logits, logits)
      row[f"{split}_margin_{name}"] = metrics.mean_margin(logits, np.argmax(t_logits, -1))
    if current is not None:
      row[f"teacher_{split}_accuracy"] = metrics.accuracy(current[split], labels)
  return row


def train_row(sums: Dict[str, jax.Array], steps: int) -> Dict[str, float]:
  """Epoch means of the step metrics: train_loss (the objective), train_kd,
  train_ce, and the train-mode batch accuracy / fidelity."""
  names = {"loss": "train_loss", "kd": "train_kd", "ce": "train_ce",
           "accuracy": "train_batch_accuracy", "fidelity": "train_batch_fidelity"}
  host = jax.device_get(sums)
  return {names[k]: float(v) / steps for k, v in host.items() if k in names}


def add_sums(sums: Optional[Dict[str, jax.Array]], step_metrics: Dict[str, jax.Array]):
  """Running sums of step metrics, kept on device (no host sync per step)."""
  if sums is None:
    return dict(step_metrics)
  return {k: sums[k] + step_metrics[k] for k in sums}


def check_finite(row: Dict[str, float], workdir: str, epoch: int, config) -> None:
  """Stops a diverged run: never reports the chance-level result of NaN weights.

  Writes workdir/diverged.json (epoch, losses, hint) for report tooling, then
  raises FloatingPointError.
  """
  bad = {k: row.get(k) for k in ("train_loss", "test_loss")
         if k in row and not np.isfinite(row[k])}
  if not bad:
    return
  d = config.distill
  hint = ("lower optimizer.learning_rate"
          + (", or set distill.lr_scale=inverse_tau_squared (the τ² factor multiplies the "
             f"KD gradient scale at τ={d.temperature})" if d.mode != "none"
             and d.tau_squared and d.lr_scale == "none" else ""))
  with open(os.path.join(workdir, DIVERGED_FILE), "w") as fh:
    json.dump({"epoch": epoch, **{k: str(v) for k, v in bad.items()}, "hint": hint}, fh)
  raise FloatingPointError(f"Student diverged at epoch {epoch} ({bad}); its metrics are "
                           f"not reported. Fix: {hint}.")


def warn_if_chance_level(row: Dict[str, float], num_classes: int, epoch: int, config) -> None:
  """Prints a warning when test accuracy sits at chance after the first epochs.

  A run can collapse without a non-finite loss (e.g. τ=4 with the τ² factor and
  a learning rate made for τ=1: every prediction falls on one class). That is
  not proof of divergence, so it warns instead of stopping.
  """
  accuracy = row.get("test_accuracy")
  if epoch >= 2 and accuracy is not None and accuracy <= 1.2 / num_classes:
    print(f"WARNING: epoch {epoch} test accuracy {accuracy:.3f} is at chance level "
          f"(C={num_classes}); the run may have collapsed. Lower "
          "optimizer.learning_rate or set distill.lr_scale=inverse_tau_squared "
          f"(τ={config.distill.temperature}).", file=sys.stderr, flush=True)
