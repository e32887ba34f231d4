"""Reading any finished (or running) run back: its config, model and weights.

Used by distillation (teacher checkpoints as targets) and by the NTK /
supervision-complexity analysis (any run's checkpoints as `f(params, x)`),
for teacher and student runs alike. Only the variables a forward pass needs
("params" and, for BatchNorm models, "batch_stats") are read; the optimizer
state in the checkpoint is skipped. The class count and input shape come from
the run's own config.json (`kd_ntk.train.from_config.data_shape_of`).
"""

import collections
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import orbax.checkpoint as ocp

from kd_ntk.data import data_mesh
from kd_ntk.train import checkpoint
from kd_ntk.train import workdir as wd
from kd_ntk.train.from_config import data_shape_of, model_from_config

saved_epochs = checkpoint.saved_epochs


def load_run(
  workdir: str, num_classes: int | None = None
) -> tuple[ml_collections.ConfigDict, Any]:
  """The config and (un-initialised) flax model of the run in `workdir`.

  Args:
    workdir: a run directory (teacher, student, or a lock-step run's teacher).
    num_classes: C; by default the run's recorded class count.

  Raises:
    FileNotFoundError if `workdir` holds no run.
  """
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"Run directory {workdir} does not exist.")
  config = wd.load_config(workdir)
  return config, model_from_config(
    config, num_classes or data_shape_of(config).num_classes
  )


class RunReader:
  """Reads the inference variables of a run's checkpoints.

  Restored checkpoints are kept in an LRU of at most `keep` entries (a
  following student reads the same few teacher checkpoints many times); it
  belongs to this reader and dies with it.

  Args:
    workdir: the run directory.
    mesh: arrays are replicated over this mesh (default: all devices).
    num_classes, input_shape: override the run's recorded values (default: read
      from its config.json).
    keep: how many restored checkpoints to keep.
  """

  def __init__(
    self,
    workdir: str,
    *,
    mesh=None,
    num_classes: int | None = None,
    input_shape=None,
    keep: int = 8,
  ):
    self.workdir = workdir
    self.config, self.model = load_run(workdir, num_classes)
    self.input_shape = tuple(
      input_shape or data_shape_of(self.config).input_shape
    )
    self.mesh = mesh or data_mesh()
    self.keep = keep
    self._abstract = None
    self._restored: "collections.OrderedDict[int, dict[str, Any]]" = (
      collections.OrderedDict()
    )

  def abstract_variables(self) -> dict[str, Any]:
    """ShapeDtypeStructs (replicated on the mesh) of the inference variables,
    from `jax.eval_shape` of the model's init: nothing is initialised."""
    if self._abstract is None:
      dummy = jnp.zeros((1, *self.input_shape), jnp.float32)
      key = jax.random.PRNGKey(0)
      shapes = jax.eval_shape(
        lambda: self.model.init(
          {"params": key, "dropout": key}, dummy, train=False
        )
      )
      wanted = {"params": shapes["params"]}
      if shapes.get("batch_stats"):
        wanted["batch_stats"] = shapes["batch_stats"]
      self._abstract = checkpoint.abstract_replicated(wanted, self.mesh)
    return self._abstract

  def variables(self, epoch: int) -> dict[str, Any]:
    """The flax variables {"params", "batch_stats"?} of checkpoint `epoch`.

    Returns:
      A dict for `model.apply(variables, x, train=False)`; treat it as
      read-only.

    Raises:
      FileNotFoundError if the checkpoint does not exist, naming the saved
      epochs.
    """
    epoch = int(epoch)
    if epoch in self._restored:
      self._restored.move_to_end(epoch)
      return self._restored[epoch]
    epochs = saved_epochs(self.workdir)
    if epoch not in epochs:
      raise FileNotFoundError(
        f"{self.workdir} has no checkpoint for epoch {epoch}; saved "
        f"epochs: {epochs or 'none'}."
      )
    abstract = self.abstract_variables()
    # A private manager: orbax binds a handler to the first args type it sees,
    # and partial restores need PyTreeRestore (the training runs use
    # StandardRestore).
    mngr = checkpoint.manager(self.workdir, create=False)
    try:
      restore_args = ocp.checkpoint_utils.construct_restore_args(abstract)
      variables = mngr.restore(
        epoch,
        args=ocp.args.PyTreeRestore(
          item=abstract, restore_args=restore_args, partial_restore=True
        ),
      )
    finally:
      mngr.close()
    self._restored[epoch] = variables
    while len(self._restored) > self.keep:
      self._restored.popitem(last=False)
    return variables


def restore_variables(
  workdir: str,
  epoch: int,
  *,
  input_shape=None,
  mesh=None,
  num_classes: int | None = None,
) -> dict[str, Any]:
  """The inference variables of checkpoint `epoch` of a run, read once (no
  cache).

  Args:
    workdir: the run directory.
    epoch: checkpoint epoch (0 = initialisation).
    input_shape: (H, W, C) of one image (default: the run's recorded shape).
    mesh: arrays are replicated over this mesh (default: all devices).
    num_classes: C (default: the run's recorded class count).
  """
  return RunReader(
    workdir, mesh=mesh, num_classes=num_classes, input_shape=input_shape, keep=0
  ).variables(epoch)


def final_epoch(workdir: str) -> int:
  """The last saved epoch of a run (raises if it saved none)."""
  epochs: list[int] = saved_epochs(workdir)
  if not epochs:
    raise FileNotFoundError(f"{workdir} holds no checkpoints.")
  return epochs[-1]
