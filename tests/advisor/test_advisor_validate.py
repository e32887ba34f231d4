"""The validation report on a fake grid with known answers, and the real
student path (kd_ntk.distill.loop through DistillLoopTrainer) on the tiny
teacher."""

import math
import os

import numpy as np
import pytest

from kd_ntk.advisor import validate, validation_files
from kd_ntk.advisor.records import Advice, Candidate, CandidateScores
from kd_ntk.advisor.trainers import DistillLoopTrainer

PAIRS = [Candidate(t, tau) for t in (0, 1, 2) for tau in (1.0, 4.0)]
# True student accuracy of each pair: best at (1, 4.0), the reference (2, 4.0)
# second.
TRUE = {
  Candidate(0, 1.0): 0.30,
  Candidate(0, 4.0): 0.32,
  Candidate(1, 1.0): 0.70,
  Candidate(1, 4.0): 0.80,
  Candidate(2, 1.0): 0.72,
  Candidate(2, 4.0): 0.78,
}


class FakeTrainer:
  """Accuracy = the pair's true value + a seed offset common to all pairs."""

  def __init__(self):
    self.calls = []

  def test_accuracy(self, *, epoch, temperature, seeds):
    self.calls.append((epoch, temperature))
    base = TRUE[Candidate(epoch, temperature)]
    return [base + 0.01 * s for s in seeds]


def _advice(krr):
  rows = []
  for c in PAIRS:
    rows.append(
      CandidateScores(
        epoch=c.epoch,
        temperature=c.temperature,
        asc=1.0 / (1 + c.epoch),
        asc_norm_matched=1.0,
        sc=1.0,
        target_norm=1.0,
        bound_margin_loss=0.0,
        bound_complexity=1.0,
        bound_confidence=0.1,
        bound_total=1.1,
        krr_accuracy=krr[c],
        krr_margin_loss=0.5,
        grace=1.0,
        teacher_accuracy=0.1 * c.epoch,
        target_accuracy=0.5,
        is_last=c.epoch == 2,
      )
    )
  rows.sort(key=lambda r: -r.krr_accuracy)
  rows = [
    CandidateScores(**{**r.as_dict(), "rank": i + 1})
    for i, r in enumerate(rows)
  ]
  return Advice(tuple(rows), rows[0], "krr_accuracy", "fake", 8, 8, {})


def test_a_perfect_score_has_rank_correlation_one_and_no_regret(tmp_path):
  advice = _advice(TRUE)
  trainer = FakeTrainer()
  report = validate.validate(advice, trainer, seeds=range(3), num_resamples=50)
  assert trainer.calls == [(c.epoch, c.temperature) for c in sorted(PAIRS)]
  by = report.by_score()
  krr = by["krr_accuracy"]
  assert krr.spearman.estimate == pytest.approx(1.0)
  assert krr.kendall.low == pytest.approx(1.0)
  assert krr.advised == (Candidate(1, 4.0),)
  assert krr.regret_vs_best.estimate == pytest.approx(0.0)
  assert krr.regret_vs_reference.estimate == pytest.approx(0.78 - 0.80)
  assert report.best == Candidate(1, 4.0)
  assert report.reference == Candidate(2, 4.0)
  # The teacher's accuracy ties across τ: its advice is the set of the last
  # checkpoint's pairs, and its regret the mean over the set.
  teacher = by["teacher_accuracy"]
  assert set(teacher.advised) == {Candidate(2, 1.0), Candidate(2, 4.0)}
  assert teacher.regret_vs_best.estimate == pytest.approx(0.80 - 0.75)
  assert krr.spearman_vs_baseline.estimate > 0
  paths = validation_files.write_validation(
    report, advice, str(tmp_path), "fake"
  )
  text = open(paths["validation_markdown"]).read()
  assert "**krr_accuracy**" in text and "Advised: t=1, tau=4" in text
  assert os.path.getsize(paths["validation_figure"]) > 1000


def test_report_refuses_a_grid_the_advice_did_not_score():
  advice = _advice(TRUE)
  with pytest.raises(ValueError, match="did not score"):
    validate.validation_report(
      advice, np.zeros((1, 2)), [Candidate(5, 1.0)], [0, 1]
    )
  with pytest.raises(ValueError, match="expected"):
    validate.validation_report(advice, np.zeros((2, 2)), PAIRS, [0, 1])


def test_tied_best():
  assert validate.tied_best([0.1, 0.3, 0.3], +1) == [1, 2]
  assert validate.tied_best([0.1, math.nan, 0.3], -1) == [0]


def test_distill_loop_trainer_trains_real_students(teacher_dir, tmp_path):
  trainer = DistillLoopTrainer(
    teacher_dir, str(tmp_path), model="mlp", model_kwargs={"width": 8}, epochs=1
  )
  config = trainer.config(1, 4.0, 0)
  assert (config.distill.mode, config.distill.early_epoch) == ("early", 1)
  assert config.distill.temperature == 4.0 and config.distill.alpha == 0.0
  first = trainer.test_accuracy(epoch=1, temperature=4.0, seeds=[3])
  assert len(first) == 1 and 0 <= first[0] <= 1
  assert os.path.isdir(trainer.workdir(1, 4.0, 3))
  # Resumed, not retrained: the same number from the finished run.
  assert trainer.test_accuracy(epoch=1, temperature=4.0, seeds=[3]) == first


def test_without_epochs_drops_their_pairs():
  advice = _advice(TRUE)
  report = validate.validate(
    advice, FakeTrainer(), seeds=range(2), num_resamples=20
  )
  smaller = validate.without_epochs(advice, report, [0], num_resamples=20)
  assert smaller.candidates == tuple(c for c in sorted(PAIRS) if c.epoch != 0)
  assert smaller.accuracy.shape == (4, 2)
  assert smaller.by_score()["krr_accuracy"].spearman.estimate == pytest.approx(
    1.0
  )
