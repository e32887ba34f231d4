"""A stored teacher run as the student's targets: its checkpoints' variables for
the distillation step, and its logits on the evaluation sets for the metrics.

Both belong to the student run that reads them (`TeacherTargets`), or to the
`kd_ntk.distill.seed_grid.Shared` of a grid of runs, whose seeds then read and
evaluate each checkpoint once.
"""

import collections

import numpy as np

from kd_ntk.distill.sources import TeacherPick
from kd_ntk.distill.student_rows import logits_on
from kd_ntk.train.evaluation import Evaluator
from kd_ntk.train.runs import RunReader


def fixed_arity(pick: TeacherPick, arity: int) -> TeacherPick:
  """Pads a single-checkpoint pick to `arity` entries (weight 0), so the step's
  argument structure, hence its compilation, never changes within a run."""
  pad = arity - len(pick.epochs)
  return TeacherPick(
    pick.epochs + pick.epochs[-1:] * pad, pick.weights + (0.0,) * pad
  )


class TeacherTargets:
  """The checkpoints of a teacher run, read for one student run.

  Variables come from a `RunReader` (an LRU of max(8, `keep`) restored
  checkpoints). Logits on the evaluation sets are computed once per checkpoint:
  the final teacher's are kept, others in an LRU of `keep` (a grid of seeds,
  `kd_ntk.distill.seed_grid`, keeps every checkpoint).

  Args:
    workdir: the teacher run.
    num_classes, input_shape: the student's data (the teacher must match it).
    sets: the student's evaluation sets, {"train": (x, y), "test": (x, y)}.
    batch_size: evaluation batch size.
    mesh: the device mesh.
    final_epoch: T, the teacher's final checkpoint.
  """

  def __init__(
    self,
    workdir: str,
    *,
    num_classes: int,
    input_shape,
    sets,
    batch_size: int,
    mesh,
    final_epoch: int,
    keep: int = 3,
  ):
    self.reader = RunReader(
      workdir,
      mesh=mesh,
      num_classes=num_classes,
      input_shape=input_shape,
      keep=max(8, keep),
    )
    self.model = self.reader.model
    self.sets, self.final, self.keep = sets, final_epoch, keep
    self.evaluator = Evaluator(self.model, batch_size, mesh)
    self._logits: "collections.OrderedDict[int, dict]" = (
      collections.OrderedDict()
    )

  def variables(self, epoch: int):
    """The inference variables of checkpoint `epoch`."""
    return self.reader.variables(epoch)

  def of_epoch(self, epoch: int) -> dict[str, np.ndarray]:
    """Logits of checkpoint `epoch` on every evaluation set."""
    if epoch in self._logits:
      self._logits.move_to_end(epoch)
      return self._logits[epoch]
    self._logits[epoch] = logits_on(
      self.evaluator, self.variables(epoch), self.sets
    )
    others = [e for e in self._logits if e != self.final]
    for e in others[: max(len(others) - self.keep, 0)]:
      del self._logits[e]
    return self._logits[epoch]

  def of_pick(self, pick: TeacherPick) -> dict[str, np.ndarray]:
    """Logits of a (possibly blended) pick: Σ_k w_k · z(epoch_k)."""
    parts = [self.of_epoch(e) for e in pick.epochs]
    return {
      s: sum(w * p[s] for w, p in zip(pick.weights, parts)) for s in self.sets
    }
