"""Everything a run writes into one workdir, in one place.

A `Recorder` owns one network's workdir: config.json (claimed through
`kd_ntk.train.workdir`), metrics.jsonl, TensorBoard event files
(`kd_ntk.train.event_file`), the per-epoch checkpoints
(`kd_ntk.train.checkpoint`) and diverged.json. Each epoch is recorded in one
order: the metrics row (and its scalars), then the checkpoint. A crash in
between leaves a row without a checkpoint, which the resume drops (`start`);
the event file keeps its copy, so TensorBoard may show that epoch twice.

The run holds its workdir's lock (`kd_ntk.train.lock`) from `claim` to `close`:
a second process started on the same workdir is refused in one line.
Writing is confined to the methods below, and in a multi-process run the host
files (config.json, metrics rows, events, diverged.json) are written by process
0 alone (`self.writes`); checkpoint saves, restores and deletes stay collective
(orbax coordinates the processes itself). Every process makes the same calls.
"""

import os
from collections.abc import Callable
from typing import Any

import jax

from kd_ntk import distributed
from kd_ntk.train import checkpoint, lock, workdir as wd
from kd_ntk.train.event_file import EventFileWriter, scalar_values
from kd_ntk.train.state import replicate

DIVERGED_FILE = "diverged.json"


class Recorder:
  """The files of one network of a run (see the module docstring).

  Attributes:
    workdir: the run directory.
    config: the config written to (or checked against) config.json.
  """

  def __init__(self, workdir: str, config):
    self.workdir, self.config = workdir, config
    self.writes = distributed.is_writer()
    self._mngr = None
    self._events = EventFileWriter(workdir) if self.writes else None

  def claim(self) -> bool:
    """Creates the workdir and config.json, or checks an earlier run's config.

    Returns:
      True when the workdir already held this config (a resume).
    """
    # Process 0 writes; the others only check, then follow its answer.
    if self.writes:  # Locked before anything is written (one run per workdir).
      wd.check_writable(self.workdir)
      os.makedirs(self.workdir, exist_ok=True)
      lock.acquire(self.workdir)
    resumed = wd.claim(self.workdir, self.config, write=self.writes)
    resumed = bool(distributed.broadcast_from_writer(resumed))
    self._mngr = checkpoint.manager(self.workdir)
    return resumed

  def latest_epoch(self) -> int | None:
    """The latest saved checkpoint epoch (None before the first save)."""
    return self._mngr.latest_step()

  def start(self, init: Callable[[], Any], mesh, epoch: int | None):
    """The state at checkpoint `epoch` (None: a fresh `init()`), replicated on
    `mesh`.

    Checkpoints and metric rows after `epoch` (all of them when None) are
    dropped first: they belong to epochs that will be trained again.
    """
    for saved in self._mngr.all_steps():
      if epoch is None or saved > epoch:
        self._mngr.delete(saved)
    if self.writes:
      wd.truncate_metrics(self.workdir, -1 if epoch is None else epoch)
    if epoch is None:
      return replicate(init(), mesh)
    abstract = checkpoint.abstract_replicated(jax.eval_shape(init), mesh)
    return checkpoint.restore(self._mngr, epoch, abstract)

  def record(self, epoch: int, state, row: dict[str, Any]) -> None:
    """Appends the epoch's metrics row and its TensorBoard scalars (step =
    epoch), then saves its checkpoint."""
    if self.writes:
      wd.append_metrics(self.workdir, row)
      self._events.scalars(epoch, scalar_values(row))
    checkpoint.save(self._mngr, epoch, state)

  def mark_diverged(self, record: dict[str, Any]) -> None:
    """Writes diverged.json (for report tooling) describing a diverged epoch."""
    if self.writes:
      wd.write_json_atomic(os.path.join(self.workdir, DIVERGED_FILE), record)

  def rows(self) -> list[dict[str, Any]]:
    """Every metrics row written so far (by process 0, once all are here)."""
    distributed.barrier(f"rows {os.path.abspath(self.workdir)}")
    return wd.read_metrics(self.workdir)

  def close(self) -> None:
    """Waits for pending checkpoint saves; releases the manager and events."""
    if self._events is not None:
      self._events.close()
    try:
      if self._mngr is not None:
        self._mngr.wait_until_finished()
        self._mngr.close()
        self._mngr = None
    finally:
      if self.writes:
        lock.release(self.workdir)
