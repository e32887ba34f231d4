"""The ranking rule: the decision score, then its tie-breaks; nan last."""

import math

import pytest

from kd_ntk.advisor import decision
from kd_ntk.advisor.records import CandidateScores


def _scores(epoch, tau, krr, margin=0.5, asc_nm=1.0, grace=1.0):
  return CandidateScores(
    epoch=epoch,
    temperature=tau,
    asc=0.5,
    asc_norm_matched=asc_nm,
    sc=1.0,
    target_norm=1.0,
    bound_margin_loss=0.0,
    bound_complexity=1.0,
    bound_confidence=0.1,
    bound_total=1.1,
    krr_accuracy=krr,
    krr_margin_loss=margin,
    grace=grace,
    teacher_accuracy=0.5,
    target_accuracy=0.5,
    is_last=False,
  )


def test_rank_by_decision_then_tie_breaks():
  rows = [
    _scores(1, 1.0, 0.8, margin=0.3),
    _scores(2, 1.0, 0.9),
    _scores(3, 4.0, 0.8, margin=0.2),
    _scores(4, 4.0, math.nan),
    _scores(5, 2.0, 0.8, margin=0.2, asc_nm=0.5),
  ]
  # 0.9 first; the three 0.8s by margin loss (0.2, 0.2, 0.3), the 0.2s by
  # norm-matched ASC; nan last.
  assert decision.rank(rows) == [1, 4, 2, 0, 3]
  # A lower-is-better decision score reverses the direction.
  grace_rows = [_scores(0, 1.0, 0.5, grace=g) for g in (2.0, 1.0, 3.0)]
  assert decision.rank(grace_rows, "grace") == [1, 0, 2]


def test_equal_rows_prefer_later_checkpoint_then_higher_tau():
  rows = [_scores(1, 1.0, 0.8), _scores(2, 1.0, 0.8), _scores(2, 4.0, 0.8)]
  assert decision.rank(rows) == [2, 1, 0]


def test_unknown_decision_is_one_line():
  with pytest.raises(ValueError, match="unknown decision score 'x'"):
    decision.rank([], "x")


def test_best_index_direction_and_nan():
  assert decision.best_index([0.1, math.nan, 0.3], +1) == 2
  assert decision.best_index([0.1, math.nan, 0.3], -1) == 0
