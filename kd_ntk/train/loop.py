"""`run(config, workdir)`: train a network on labels, checkpointing every epoch.

Epoch 0 (the initialisation) and every later epoch are saved and kept with the
optimizer state. Rerunning in the same workdir resumes from the latest
checkpoint; a finished run is not trained again.
"""

import functools
import logging
import time
from typing import Any, Dict, List

import jax
import ml_collections
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from kd_ntk.configs import validation
from kd_ntk.data import data_mesh, prepare_splits, shard_batch, train_batches
from kd_ntk.models import flops_per_example, get_model, parameter_count
from kd_ntk.train import checkpoint, health, workdir as wd
from kd_ntk.train.evaluation import evaluate
from kd_ntk.train.state import create_state, learning_rate_schedule, make_optimizer
from kd_ntk.train.steps import train_step


def splits_from_config(config: ml_collections.ConfigDict):
  """The data splits a run config asks for (data errors surface here, first)."""
  return prepare_splits(config.dataset, config.data_dir or None, config.train_subset,
                        config.subset_seed, config.get("data_source") or None,
                        config.get("test_subset", 0), tuple(config.get("classes", ())))


def model_from_config(config: ml_collections.ConfigDict, num_classes: int):
  """The model of a run config; JSON lists in `model_kwargs` become tuples."""
  kwargs = config.get("model_kwargs") or {}
  if isinstance(kwargs, ml_collections.ConfigDict):
    kwargs = kwargs.to_dict()
  kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
  return get_model(config.model, num_classes, **kwargs)


def replicate(tree, mesh):
  """Places a pytree on every device of the mesh (parameters are replicated)."""
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def check_batch_size(batch_size: int, mesh, n_train: int) -> None:
  devices = mesh.devices.size
  if batch_size % devices:
    raise ValueError(f"batch_size={batch_size} must be divisible by the {devices} devices.")
  if batch_size > n_train:
    raise ValueError(f"batch_size={batch_size} exceeds the {n_train} training examples.")


def record_epoch(mngr, workdir: str, epoch: int, state, row) -> None:
  """Appends the epoch's metrics row, then saves its checkpoint. In this order a
  crash in between leaves a row without a checkpoint, which a resume drops."""
  health.check_finite_epoch(row, state, epoch)  # Nothing non-finite is ever saved.
  wd.append_metrics(workdir, row)
  checkpoint.save(mngr, epoch, state)


def describe_model(label, model, params, variables, input_shape) -> None:
  flops = flops_per_example(model, variables, input_shape)
  logging.info("%s: %s, %s parameters, %.3g forward FLOPs per example",
               label, type(model).__name__, f"{parameter_count(params):,}", flops)
  print(f"[{label}] {type(model).__name__}: {parameter_count(params):,} parameters, "
        f"{flops:.3g} forward FLOPs/example", flush=True)


def run(config: ml_collections.ConfigDict, workdir: str) -> List[Dict[str, Any]]:
  """Trains `config.model` on labels for `config.epochs` epochs.

  Writes to `workdir`: config.json, checkpoints/<epoch> for epoch 0..epochs
  and metrics.jsonl (one row per epoch: train loss/accuracy, test loss/accuracy,
  learning rate, seconds).

  Returns:
    All metric rows of the run (including rows from before a resume).
  """
  validation.check_training_config(config, workdir)  # Before anything is read or written.
  splits = splits_from_config(config)  # Missing data fails before any model work.
  model = model_from_config(config, splits.info.num_classes)
  mesh = data_mesh()
  check_batch_size(config.batch_size, mesh, len(splits.train_labels))
  resumed = wd.claim(workdir, config)
  steps_per_epoch = len(splits.train_labels) // config.batch_size
  tx = make_optimizer(config.optimizer, steps_per_epoch, config.epochs)
  schedule = learning_rate_schedule(config.optimizer, steps_per_epoch, config.epochs)
  init_rng, train_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  init = functools.partial(create_state, model, tx, init_rng, splits.info.image_shape)

  mngr = checkpoint.manager(workdir)
  latest = mngr.latest_step() if resumed else None
  if latest is None:
    state = replicate(init(), mesh)
    checkpoint.save(mngr, 0, state)
    test = evaluate(model, state.variables(), splits.test_images, splits.test_labels,
                    config.eval_batch_size, mesh)
    wd.truncate_metrics(workdir, -1)
    wd.append_metrics(workdir, {"epoch": 0, "test_loss": test["loss"],
                                "test_accuracy": test["accuracy"], "seconds": 0.0})
    latest = 0
  else:
    abstract = checkpoint.abstract_replicated(jax.eval_shape(init), mesh)
    state = checkpoint.restore(mngr, latest, abstract)
    wd.truncate_metrics(workdir, latest)
    print(f"[{config.model}] resuming {workdir} from epoch {latest}", flush=True)
  describe_model(config.model, model, state.params, state.variables(),
                 splits.info.image_shape)
  if latest >= config.epochs:
    print(f"[{config.model}] {workdir} already finished ({latest} epochs).", flush=True)
    mngr.close()
    return wd.read_metrics(workdir)

  step_fn = jax.jit(functools.partial(train_step, model=model, tx=tx,
                                      label_smoothing=config.label_smoothing),
                    donate_argnums=0)
  progress = wd.Progress(config.model, latest + 1, config.epochs)
  for epoch in range(latest + 1, config.epochs + 1):
    start = time.time()
    sums = {"loss": 0.0, "accuracy": 0.0}
    for images, labels in train_batches(splits.train_images, splits.train_labels,
                                        config.batch_size, config.seed, epoch,
                                        config.augment.pad, config.augment.flip):
      state, metrics = step_fn(state, *shard_batch(mesh, images, labels), train_rng)
      sums = {k: sums[k] + metrics[k] for k in sums}
    train_loss = float(sums["loss"]) / steps_per_epoch  # Waits for queued steps.
    train_seconds = time.time() - start
    test = evaluate(model, state.variables(), splits.test_images, splits.test_labels,
                    config.eval_batch_size, mesh)
    row = {"epoch": epoch,
           "train_loss": train_loss,
           "train_accuracy": float(sums["accuracy"]) / steps_per_epoch,
           "test_loss": test["loss"], "test_accuracy": test["accuracy"],
           "learning_rate": float(schedule(epoch * steps_per_epoch - 1)),
           "seconds": train_seconds}
    if not np.isfinite(row["train_loss"]):
      raise FloatingPointError(f"Training diverged at epoch {epoch} (loss "
                               f"{row['train_loss']}); lower optimizer.learning_rate.")
    record_epoch(mngr, workdir, epoch, state, row)
    health.warn_if_chance_level(row, splits.info.num_classes, epoch, f"[{config.model}]",
                                "Lower optimizer.learning_rate.")
    progress.epoch_done(epoch, {k: row[k] for k in ("train_loss", "test_accuracy")})
  mngr.wait_until_finished()
  mngr.close()
  return wd.read_metrics(workdir)
