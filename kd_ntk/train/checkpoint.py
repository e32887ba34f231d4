"""Per-epoch orbax checkpoints: step number = epoch, epoch 0 = initialisation,
all kept.

Every manager made here is a `VerifiedManager`: once a save is complete it
records the checksums of the step's files and the content digest of its weights
(`kd_ntk.train.integrity`), and every restore verifies them first, so a corrupt
or unverifiable step fails in one line naming the run, the step and the file
instead of restoring wrong weights. Opening a run for writing
(`manager(workdir)`) first drops, with a warning, the first step that is
missing, fails verification or has no metrics row, and every step after it, so
a resume falls back to the last intact epoch and recomputes the rest (a teacher
whose early checkpoints were deleted is rebuilt whole).

Multi-process runs: every process makes the same managers and calls the same
save / restore / delete (orbax's multi-host path writes each array once, from
its primary replica; the workdir must be on a file system every host sees);
checksum records and dropped steps are written by process 0 alone.
"""

import atexit
import os
import weakref

import jax
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding, PartitionSpec

from kd_ntk import distributed
from kd_ntk.train import integrity
from kd_ntk.train import workdir as wd

_OPEN: "weakref.WeakSet[VerifiedManager]" = weakref.WeakSet()


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), "checkpoints")


class VerifiedManager(ocp.CheckpointManager):
  """A CheckpointManager that checksums finished saves and verifies restores."""

  def __init__(self, workdir: str, options: ocp.CheckpointManagerOptions):
    super().__init__(checkpoint_dir(workdir), options=options)
    self.workdir = os.path.abspath(workdir)
    self._unrecorded: list[tuple[int, str | None]] = []
    self._closed = False
    _OPEN.add(self)

  def save(self, step, *args, **kwargs):
    self.wait_until_finished()  # Records the previous step once it is complete.
    content = _content_of(args[0] if args else kwargs.get("args"))
    saved = super().save(step, *args, **kwargs)
    if saved:
      self._unrecorded.append((int(step), content))
    return saved

  def wait_until_finished(self):
    super().wait_until_finished()
    while self._unrecorded:
      step, content = self._unrecorded.pop(0)
      if distributed.is_writer():  # orbax finalised the step for every process.
        integrity.record(self.workdir, step, content)

  def restore(self, step, *args, **kwargs):
    step = self.latest_step() if step is None else step
    integrity.verify(self.workdir, step)
    return super().restore(step, *args, **kwargs)

  def delete(self, step: int):
    super().delete(step)
    if distributed.is_writer():
      integrity.forget(self.workdir, step)

  def close(self):
    if self._closed:
      return
    self._closed = True
    _OPEN.discard(self)
    super().close()


def _content_of(save_args) -> str | None:
  """The weights' content digest of a save's state (its inference variables)."""
  state = getattr(save_args, "item", None)
  if state is None:
    return None
  variables = state.variables() if hasattr(state, "variables") else state
  return integrity.content_digest(variables)


def manager(workdir: str, create: bool = True) -> VerifiedManager:
  """A manager that keeps every epoch (teachers need the whole trajectory).

  With create=True (a run that will write) the run's steps are checked first,
  see `drop_unusable_steps`.
  """
  if create:
    # A run that stopped with an error may have left one open.
    close_all(workdir)
    if distributed.is_writer():
      drop_unusable_steps(workdir)
    # Every process may create it (orbax refuses to when active_processes is
    # set).
    os.makedirs(checkpoint_dir(workdir), exist_ok=True)
    distributed.barrier(f"checkpoint.manager {os.path.abspath(workdir)}")
  options = ocp.CheckpointManagerOptions(
    max_to_keep=None,
    create=False,
    multiprocessing_options=multiprocessing_options(),
  )
  return VerifiedManager(workdir, options)


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
  return ocp.options.MultiprocessingOptions(
    active_processes=set(range(jax.process_count()))
  )


def drop_unusable_steps(workdir: str) -> list[int]:
  """Finds the first step that is missing (steps run 0, 1, ..., last), fails
  its checksums (no record counts: integrity fails closed) or has no row in
  metrics.jsonl, and deletes every step from there on, with a warning.

  Training is deterministic, so resuming from the last intact step recomputes
  the dropped epochs (checkpoints and rows) exactly; later steps are dropped too
  because a trajectory must stay contiguous.

  Returns:
    The dropped steps.
  """
  steps = integrity.saved_steps_on_disk(workdir)
  if not steps:
    integrity.start(workdir)
    return []
  row_epochs = {
    row.get("epoch") for row in wd.read_metrics(workdir, repair=True)
  }
  present = set(steps)
  for step in range(steps[-1] + 1):
    if step not in present:
      issue = "it is missing"
    else:
      issue = integrity.problem(workdir, step)
    if issue is None and step not in row_epochs:
      issue = f"{wd.METRICS_FILE} has no row for it"
    if issue is not None:
      dropped = [s for s in steps if s >= step]
      integrity.warn(
        f"{workdir}: checkpoint step {step} is unusable ({issue}); deleting "
        f"steps {dropped} and resuming from "
        + (f"step {step - 1}" if step else "scratch")
        + " (deterministic training recomputes them)."
      )
      for later in dropped:
        integrity.delete_step(workdir, later)
      integrity.start(workdir)
      return dropped
  integrity.start(workdir)
  return []


def close_all(workdir: str | None = None) -> None:
  """Closes every manager still open (of `workdir`, or all): its pending save is
  finished and checksummed, and orbax's save thread ends (error exits)."""
  for mngr in list(_OPEN):
    if workdir is not None and mngr.workdir != os.path.abspath(workdir):
      continue
    try:
      mngr.close()
    except Exception:  # pylint: disable=broad-except
      # Already failing: exit anyway.
      pass


atexit.register(close_all)


def save(mngr: ocp.CheckpointManager, epoch: int, state) -> None:
  """Saves `state` as epoch `epoch`, asynchronously (wait_until_finished)."""
  mngr.save(epoch, args=ocp.args.StandardSave(state))


def restore(mngr: ocp.CheckpointManager, epoch: int, abstract_state):
  """Restores epoch `epoch` into the structure (and shardings) of
  `abstract_state`.

  `abstract_state` is typically `jax.eval_shape(create_state, ...)`, so nothing
  is initialised just to be overwritten. The step's checksums are verified
  first.
  """
  return mngr.restore(epoch, args=ocp.args.StandardRestore(abstract_state))


def saved_epochs(workdir: str) -> list[int]:
  """Sorted epochs with a finished checkpoint in `workdir` ([] if none)."""
  if not os.path.isdir(checkpoint_dir(workdir)):
    return []
  mngr = manager(workdir, create=False)
  try:
    return sorted(mngr.all_steps())
  finally:
    mngr.close()


def abstract_replicated(shape_tree, mesh):
  """ShapeDtypeStructs of `shape_tree` (e.g. `jax.eval_shape`'s) on `mesh`."""
  sharding = NamedSharding(mesh, PartitionSpec())
  return jax.tree_util.tree_map(
    lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
    shape_tree,
  )
