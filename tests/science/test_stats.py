"""Intervals and outcomes against hand-computed values (t-table quantiles)."""

import math

import pytest

from kd_ntk.science import stats

# Two-sided 95% Student-t quantiles t_{0.975, df} from a printed t-table.
T975 = {1: 12.706204736, 2: 4.302652730, 4: 2.776445105}


def test_t_interval_matches_hand_computation():
  # d = (1, 2, 3): mean 2, s = 1, half-width t_{.975,2}·1/√3.
  mean, low, high = stats.t_interval([1.0, 2.0, 3.0])
  half = T975[2] / math.sqrt(3)
  assert mean == pytest.approx(2.0)
  assert (low, high) == pytest.approx((2.0 - half, 2.0 + half), rel=1e-8)
  # d = (0.5, -0.1): mean 0.2, s = 0.6/√2, half = 12.706·s/√2 = 12.706·0.3.
  mean, low, high = stats.t_interval([0.5, -0.1])
  assert mean == pytest.approx(0.2)
  assert high - mean == pytest.approx(T975[1] * 0.3, rel=1e-8)
  # Five values, 1..5 shifted: s = sqrt(2.5), df = 4.
  _, low, high = stats.t_interval([11, 12, 13, 14, 15])
  assert (high - low) / 2 == pytest.approx(
    T975[4] * math.sqrt(2.5) / math.sqrt(5)
  )


def test_t_interval_rejects_bad_input():
  with pytest.raises(ValueError, match="at least 2"):
    stats.t_interval([1.0])
  with pytest.raises(ValueError, match="finite"):
    stats.t_interval([1.0, float("nan")])
  with pytest.raises(ValueError, match="confidence"):
    stats.t_interval([1.0, 2.0], confidence=1.5)


def test_constant_differences_give_a_zero_width_interval():
  mean, low, high = stats.t_interval([0.3, 0.3, 0.3])
  assert low == high == mean == pytest.approx(0.3)
  assert stats.outcome_of(low, high) == stats.SUPPORTED


@pytest.mark.parametrize(
  "low,high,outcome",
  [
    (0.1, 0.5, stats.SUPPORTED),
    (-0.5, -0.1, stats.CONTRADICTED),
    (-0.1, 0.2, stats.NO_DIFFERENCE),
    (0.0, 0.3, stats.NO_DIFFERENCE),
    (-0.3, 0.0, stats.NO_DIFFERENCE),
  ],
)
def test_outcome_of_interval(low, high, outcome):
  assert stats.outcome_of(low, high) == outcome


def test_paired_pairs_by_replicate_not_by_position():
  # Arms listed in different orders; seed 2 only in a; seed 3 diverged in b.
  a = {0: 0.80, 1: 0.82, 2: 0.90, 3: 0.81}
  b = {1: 0.80, 0: 0.79, 3: None}
  c = stats.paired("a − b", a, b)
  assert c.n == 2 and set(c.differences) == {"0", "1"}
  assert c.estimate == pytest.approx(((0.80 - 0.79) + (0.82 - 0.80)) / 2)
  # Raw means would say a ≫ b (0.833 vs 0.795); the paired interval is what counts.
  assert c.outcome == stats.NO_DIFFERENCE  # d = (.01, .02): [-0.049, 0.079]


def test_paired_outcomes_and_not_testable():
  up = stats.paired("x", {0: 1.0, 1: 1.1, 2: 1.2}, {0: 0.0, 1: 0.05, 2: 0.1})
  assert up.outcome == stats.SUPPORTED and up.low > 0
  down = stats.paired("x", {0: 0.0, 1: 0.05, 2: 0.1}, {0: 1.0, 1: 1.1, 2: 1.2})
  assert down.outcome == stats.CONTRADICTED and down.high < 0
  one = stats.paired("x", {0: 1.0}, {0: 0.0})
  assert one.outcome == stats.NOT_TESTABLE and "1 paired" in one.reason
  assert one.outcome != stats.CONTRADICTED
  assert stats.paired("x", {}, {}).outcome == stats.NOT_TESTABLE


def test_combine_all():
  c = lambda o: stats.Comparison("x", 0, 0, 0, 3, 0.95, o, {})
  S, N, C, T = (
    stats.SUPPORTED,
    stats.NO_DIFFERENCE,
    stats.CONTRADICTED,
    stats.NOT_TESTABLE,
  )
  assert stats.combine_all([c(S), c(S)]) == S
  assert stats.combine_all([c(S), c(N)]) == N
  assert stats.combine_all([c(S), c(C), c(T)]) == C
  assert stats.combine_all([c(S), c(T)]) == T
  assert stats.combine_all([]) == T


def test_interval_text():
  c = stats.paired("x", {0: 0.9, 1: 0.8, 2: 0.85}, {0: 0.8, 1: 0.8, 2: 0.8})
  assert c.interval_text(scale=100, digits=1).startswith("+5.0 [")
  assert stats.paired("x", {0: 1.0}, {0: 0.0}).interval_text() == "+1.000 (n=1)"
