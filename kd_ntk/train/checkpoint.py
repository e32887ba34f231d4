"""Per-epoch orbax checkpoints: step number = epoch, epoch 0 = initialisation, all kept.

Multi-process runs: every process calls the same save / restore (orbax's
multi-host path writes each array once, from its primary replica); the workdir
must be on a file system every host sees.
"""

import os
from typing import List

import jax
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding, PartitionSpec


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), "checkpoints")


def manager(workdir: str, create: bool = True) -> ocp.CheckpointManager:
  """A CheckpointManager that keeps every epoch (teachers need the whole trajectory)."""
  if create:  # Every process may create it (orbax refuses to with active_processes).
    os.makedirs(checkpoint_dir(workdir), exist_ok=True)
  options = ocp.CheckpointManagerOptions(max_to_keep=None, create=False,
                                         multiprocessing_options=multiprocessing_options())
  return ocp.CheckpointManager(checkpoint_dir(workdir), options=options)


def multiprocessing_options() -> ocp.options.MultiprocessingOptions:
  """Naming every process makes orbax's barriers use the coordination service.

  Otherwise they are device all-reduces (`sync_global_devices`), which orbax's
  background save thread can issue while the main thread runs the training
  step's collectives; on CPU (gloo) the two then interleave differently in
  different processes and the run aborts (seen here: "op.preamble.length <=
  op.nbytes").
  """
  if jax.process_count() == 1:
    return ocp.options.MultiprocessingOptions()
  return ocp.options.MultiprocessingOptions(active_processes=set(range(jax.process_count())))


def save(mngr: ocp.CheckpointManager, epoch: int, state) -> None:
  """Saves `state` as epoch `epoch` (asynchronously; `mngr.wait_until_finished()`)."""
  mngr.save(epoch, args=ocp.args.StandardSave(state))


def restore(mngr: ocp.CheckpointManager, epoch: int, abstract_state):
  """Restores epoch `epoch` into the structure (and shardings) of `abstract_state`.

  `abstract_state` is typically `jax.eval_shape(create_state, ...)`, so nothing
  is initialised just to be overwritten.
  """
  return mngr.restore(epoch, args=ocp.args.StandardRestore(abstract_state))


def saved_epochs(workdir: str) -> List[int]:
  """Sorted epochs with a finished checkpoint in `workdir` ([] if none)."""
  if not os.path.isdir(checkpoint_dir(workdir)):
    return []
  mngr = manager(workdir, create=False)
  try:
    return sorted(mngr.all_steps())
  finally:
    mngr.close()


def abstract_replicated(shape_tree, mesh):
  """ShapeDtypeStructs of `shape_tree` (e.g. from `jax.eval_shape`) replicated on `mesh`."""
  sharding = NamedSharding(mesh, PartitionSpec())
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shape_tree)
