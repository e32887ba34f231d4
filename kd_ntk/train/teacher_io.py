"""Reading a finished (or running) training run back: its config, model and weights.

Used by distillation (teacher checkpoints as targets) and by the NTK /
supervision-complexity analysis (any run's checkpoints as `f(params, x)`).
Only the variables a forward pass needs ("params" and, for BatchNorm models,
"batch_stats") are read; the optimizer state in the checkpoint is skipped.
"""

import collections
import os
import threading
from typing import Any, Dict, List, Optional, Tuple

import jax
import ml_collections
import orbax.checkpoint as ocp

from kd_ntk.data import data_mesh
from kd_ntk.data.sources import IDX_DATASETS
from kd_ntk.train import checkpoint
from kd_ntk.train import workdir as wd
from kd_ntk.train.loop import model_from_config
from kd_ntk.train.state import create_state, make_optimizer

saved_epochs = checkpoint.saved_epochs

# Class counts of datasets whose runs may be loaded without loading the data.
KNOWN_NUM_CLASSES = {**{name: len(names) for name, names in IDX_DATASETS.items()},
                     "mnist": 10, "cifar10": 10, "cifar100": 100, "svhn_cropped": 10,
                     "imagenet2012": 1000}

# (abs workdir, epoch, mesh devices) -> variables; a small LRU so that following a
# trajectory (online distillation) never holds every checkpoint in memory.
_CACHE_SIZE = 8
_cache: "collections.OrderedDict[tuple, Dict[str, Any]]" = collections.OrderedDict()
_cache_lock = threading.Lock()


def num_classes_of(config: ml_collections.ConfigDict) -> int:
  """The class count of a run's dataset, without loading the data."""
  classes = config.get("classes") or ()
  if classes:  # A selection of classes, relabelled 0..k-1 (e.g. a binary task).
    return len(classes)
  if config.dataset not in KNOWN_NUM_CLASSES:
    raise ValueError(f"Unknown class count for dataset {config.dataset!r}; pass "
                     "num_classes explicitly (e.g. splits.info.num_classes).")
  return KNOWN_NUM_CLASSES[config.dataset]


def load_run(workdir: str, num_classes: Optional[int] = None
             ) -> Tuple[ml_collections.ConfigDict, Any]:
  """The config and (un-initialised) flax model of the run in `workdir`.

  Args:
    workdir: a run directory written by `kd_ntk.train.loop.run` (or the teacher
      half of a lock-step distillation run).
    num_classes: C; by default looked up from the run's dataset name.

  Raises:
    FileNotFoundError if `workdir` holds no run.
  """
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"Run directory {workdir} does not exist.")
  config = wd.load_config(workdir)
  return config, model_from_config(config, num_classes or num_classes_of(config))


def abstract_variables(config: ml_collections.ConfigDict, model, input_shape, mesh=None
                       ) -> Dict[str, Any]:
  """ShapeDtypeStructs (replicated on `mesh`) of the run's inference variables.

  Built with `jax.eval_shape(create_state, ...)` using the run's own optimizer,
  so nothing is initialised.
  """
  mesh = mesh or data_mesh()
  tx = make_optimizer(config.optimizer, 1, max(int(config.epochs), 1))
  shapes = jax.eval_shape(
      lambda: create_state(model, tx, jax.random.PRNGKey(0), tuple(input_shape)))
  wanted = {"params": shapes.params}
  if shapes.batch_stats:
    wanted["batch_stats"] = shapes.batch_stats
  return checkpoint.abstract_replicated(wanted, mesh)


def _restore(workdir: str, epoch: int, abstract: Dict[str, Any]) -> Dict[str, Any]:
  # A private manager: orbax binds a handler to the first args type it sees, and
  # partial restores need PyTreeRestore (the training loop uses StandardRestore).
  mngr = checkpoint.manager(workdir, create=False)
  try:
    restore_args = ocp.checkpoint_utils.construct_restore_args(abstract)
    return mngr.restore(epoch, args=ocp.args.PyTreeRestore(
        item=abstract, restore_args=restore_args, partial_restore=True))
  finally:
    mngr.close()


def restore_variables(workdir: str, epoch: int, input_shape=None, mesh=None,
                      num_classes: Optional[int] = None) -> Dict[str, Any]:
  """The flax variables {"params", "batch_stats"?} of checkpoint `epoch` of a run.

  Args:
    workdir: the run directory.
    epoch: checkpoint epoch (0 = initialisation).
    input_shape: (H, W, C) of one image; by default (28, 28, 1) for IDX datasets,
      (32, 32, 3) otherwise (pass it for other datasets).
    mesh: arrays are replicated over this mesh (default: all devices).
    num_classes: C (default: from the dataset name).

  Returns:
    A dict for `model.apply(variables, x, train=False)`. Cached per (workdir,
    epoch, mesh) in a small LRU; treat the result as read-only.

  Raises:
    FileNotFoundError if the checkpoint does not exist, naming the saved epochs.
  """
  mesh = mesh or data_mesh()
  key = (os.path.abspath(workdir), int(epoch), tuple(d.id for d in mesh.devices.flat),
         tuple(input_shape or ()), num_classes)
  with _cache_lock:
    if key in _cache:
      _cache.move_to_end(key)
      return _cache[key]
  epochs = saved_epochs(workdir)
  if epoch not in epochs:
    raise FileNotFoundError(f"{workdir} has no checkpoint for epoch {epoch}; saved "
                            f"epochs: {epochs or 'none'}.")
  config, model = load_run(workdir, num_classes)
  if input_shape is None:
    input_shape = (28, 28, 1) if config.dataset in IDX_DATASETS else (32, 32, 3)
  variables = _restore(workdir, epoch, abstract_variables(config, model, input_shape, mesh))
  with _cache_lock:
    _cache[key] = variables
    while len(_cache) > _CACHE_SIZE:
      _cache.popitem(last=False)
  return variables


def clear_cache() -> None:
  """Forgets every cached checkpoint (e.g. after a run directory was rewritten)."""
  with _cache_lock:
    _cache.clear()


def final_epoch(workdir: str) -> int:
  """The last saved epoch of a run (raises if it saved none)."""
  epochs: List[int] = saved_epochs(workdir)
  if not epochs:
    raise FileNotFoundError(f"{workdir} holds no checkpoints.")
  return epochs[-1]
