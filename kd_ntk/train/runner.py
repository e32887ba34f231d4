"""The one run skeleton shared by teacher, student and lock-step runs.

`run_epochs(networks, work, epochs, mesh)` owns what every run does around its
training: claim the workdir(s) (a different config is refused), start fresh or
resume from the latest checkpoint of the first network, record epoch 0 (the
initialisation), stop early if the run has finished, then for each remaining
epoch call `work.train_epoch` and record one metrics row and one checkpoint
per network, and close. What differs between runs is the `EpochWork`:

  first_rows(states)          -> the epoch-0 row of each network
  train_epoch(states, epoch)  -> (new states, the epoch's row of each network)

A run of several networks (lock-step: student first, its teacher second)
resumes every network at the first network's latest epoch, so they stay in
step. A `Diverged` error raised by the work is recorded in the first network's
workdir (diverged.json) before it propagates.
"""

import dataclasses
import logging
from typing import (
  Any,
  Protocol,
)
from collections.abc import Callable, Sequence

import ml_collections

from kd_ntk.models import flops_per_example, parameter_count
from kd_ntk.train import health, workdir as wd
from kd_ntk.train.recorder import Recorder

Row = dict[str, Any]


class Diverged(FloatingPointError):
  """Training produced a non-finite loss; the run has no result to report.

  Attributes:
    record: written to the run's diverged.json when not None.
  """

  def __init__(self, message: str, record: dict[str, Any] | None = None):
    super().__init__(message)
    self.record = record


@dataclasses.dataclass(frozen=True)
class Network:
  """One network a run trains, and where it is written.

  Attributes:
    workdir: its run directory.
    config: its config (written to config.json).
    model: its flax module (for the description line).
    input_shape: (H, W, channels) of one image.
    init: () -> its initial TrainState, unreplicated (a function of the seed).
  """

  workdir: str
  config: ml_collections.ConfigDict
  model: Any
  input_shape: tuple[int, ...]
  init: Callable[[], Any]


class EpochWork(Protocol):
  """The per-epoch work of a run (see the module docstring)."""

  def first_rows(self, states: Sequence[Any]) -> Sequence[Row]: ...

  def train_epoch(
    self, states: Sequence[Any], epoch: int
  ) -> tuple[Sequence[Any], Sequence[Row]]: ...


def describe_model(label: str, model, state, input_shape) -> None:
  """Logs and prints the model's class, parameter count and forward FLOPs."""
  flops = flops_per_example(model, state.variables(), input_shape)
  count = parameter_count(state.params)
  logging.info(
    "%s: %s, %s parameters, %.3g forward FLOPs per example",
    label,
    type(model).__name__,
    f"{count:,}",
    flops,
  )
  print(
    f"[{label}] {type(model).__name__}: {count:,} parameters, "
    f"{flops:.3g} forward FLOPs/example",
    flush=True,
  )


def run_epochs(
  networks: Sequence[Network], work: EpochWork, epochs: int, mesh
) -> list[Row]:
  """Runs (or resumes, or finds finished) epochs 1..`epochs` of `networks`.

  Args:
    networks: the networks of the run; the first is the run itself (its workdir
      holds the run's rows and decides where a resume starts).
    work: the per-epoch work.
    epochs: the last epoch.
    mesh: the device mesh states are replicated on.

  Returns:
    Every metrics row of the first network, including rows from before a resume.
  """
  main = networks[0]
  label = main.config.model
  recorders = [Recorder(n.workdir, n.config) for n in networks]
  try:
    resumed = [r.claim() for r in recorders][0]
    latest = recorders[0].latest_epoch() if resumed else None
    states = [
      r.start(n.init, mesh, latest) for r, n in zip(recorders, networks)
    ]
    if latest is None:
      _record(recorders, 0, states, work.first_rows(states))
      latest = 0
    else:
      print(
        f"[{label}] resuming {main.workdir} from epoch {latest}", flush=True
      )
    describe_model(label, main.model, states[0], main.input_shape)
    if latest >= epochs:
      print(
        f"[{label}] {main.workdir} already finished ({latest} epochs).",
        flush=True,
      )
      return recorders[0].rows()
    progress = wd.Progress(label, latest + 1, epochs)
    for epoch in range(latest + 1, epochs + 1):
      states, rows = work.train_epoch(states, epoch)
      _record(recorders, epoch, states, rows)
      progress.epoch_done(
        epoch, {k: rows[0][k] for k in ("train_loss", "test_accuracy")}
      )
  except Diverged as err:
    if err.record is not None:
      recorders[0].mark_diverged(err.record)
    raise
  finally:
    for recorder in recorders:
      recorder.close()
  return recorders[0].rows()


def _record(recorders: Sequence[Recorder], epoch: int, states, rows) -> None:
  """Records the epoch of every network, the last network first (a lock-step
  teacher is on disk before the student that learned from it)."""
  for recorder, state, row in zip(
    recorders, states, rows
  ):  # Finite or nothing is saved.
    health.check_finite_epoch(
      row,
      state,
      epoch,
      label=f"[{recorder.config.model}] {recorder.workdir}",
      error=Diverged,
    )
  for recorder, state, row in reversed(list(zip(recorders, states, rows))):
    recorder.record(epoch, state, row)
