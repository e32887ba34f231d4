"""Real students for the validation grid, behind one small interface.

The validation only needs "the test accuracy of a student of this network
distilled from checkpoint t at temperature τ with seed s". `StudentTrainer` is
that interface; `DistillLoopTrainer` answers it with kd_ntk's student loop
(`kd_ntk.distill.loop.run`, mode "early": the fixed checkpoint t for every
student epoch, pure KD at τ) and one `kd_ntk.distill.seed_grid.Shared` for
the whole grid, so the data, the teacher's logits and the compiled steps are
made once per process. Each run keeps its own workdir (resumable: a finished
run is read back, not trained again). Another path (e.g. a vmapped seed axis)
plugs in by implementing `test_accuracy`.
"""

import os
from collections.abc import Sequence
from typing import Protocol

import ml_collections

from kd_ntk.experiment.student_runs import COPIED_FROM_TEACHER
from kd_ntk.configs import distill as distill_config
from kd_ntk.train import runs


class StudentTrainer(Protocol):
  """Test accuracies of students distilled from one (checkpoint, τ)."""

  def test_accuracy(
    self, *, epoch: int, temperature: float, seeds: Sequence[int]
  ) -> list[float]:
    """One final test accuracy per seed, in the order of `seeds`."""
    ...


class DistillLoopTrainer:
  """`StudentTrainer` on `kd_ntk.distill.loop.run` (module docstring).

  Args:
    teacher_workdir: the teacher run.
    root: folder of the student runs (`t<epoch>_tau<τ>_s<seed>`).
    model, model_kwargs: the student preset and its overrides.
    epochs: student epochs.
    learning_rate: peak SGD learning rate (divided by τ: `lr_scale`
      inverse_tau).
    schedule: the optimizer block's schedule.
    batch_size: global batch (the teacher's by default).
    log: optional callable taking one progress line.
  """

  def __init__(
    self,
    teacher_workdir: str,
    root: str,
    *,
    model: str,
    model_kwargs: dict | None = None,
    epochs: int = 2,
    learning_rate: float = 0.05,
    schedule: str = "cosine",
    batch_size: int = 0,
    log=None,
  ):
    # pylint: disable-next=g-import-not-at-top
    from kd_ntk.distill.seed_grid import Shared

    self.teacher_workdir = os.path.abspath(teacher_workdir)
    self.teacher_config, _ = runs.load_run(self.teacher_workdir)
    self.root = root
    self.model, self.model_kwargs = model, dict(model_kwargs or {})
    self.epochs, self.learning_rate = int(epochs), float(learning_rate)
    self.schedule, self.batch_size = schedule, int(batch_size)
    self.log = log or (lambda line: None)
    self.shared = Shared()

  def config(
    self, epoch: int, temperature: float, seed: int
  ) -> ml_collections.ConfigDict:
    """The distill.py config of one student run."""
    c = distill_config.get_config("early")
    for key in COPIED_FROM_TEACHER:
      c[key] = self.teacher_config[key]
    c.augment = ml_collections.ConfigDict(self.teacher_config.augment.to_dict())
    if self.batch_size:
      c.batch_size = self.batch_size
    c.model = self.model
    c.model_kwargs = ml_collections.ConfigDict(self.model_kwargs)
    c.seed, c.epochs = int(seed), self.epochs
    c.optimizer.learning_rate = self.learning_rate
    c.optimizer.schedule = self.schedule
    c.train_eval_size = min(int(c.train_eval_size), 1024)
    d = c.distill
    d.teacher_workdir = self.teacher_workdir
    d.alpha = 0.0
    d.lr_scale = "inverse_tau"
    d.temperature = d.temperature_start = float(temperature)
    d.early_epoch = int(epoch)
    return c

  def workdir(self, epoch: int, temperature: float, seed: int) -> str:
    return os.path.join(self.root, f"t{epoch}_tau{temperature:g}_s{seed}")

  def test_accuracy(
    self, *, epoch: int, temperature: float, seeds: Sequence[int]
  ) -> list[float]:
    from kd_ntk.distill import loop  # pylint: disable=g-import-not-at-top

    out = []
    for seed in seeds:
      rows = loop.run(
        self.config(epoch, temperature, seed),
        self.workdir(epoch, temperature, seed),
        self.shared,
      )
      out.append(float(rows[-1]["test_accuracy"]))
      self.log(
        f"[validate] t={epoch} tau={temperature:g} seed={seed}: "
        f"test accuracy {out[-1]:.4f}"
      )
    return out
