"""Rank correlations, the seed bootstrap and regret on hand-checked cases."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from kd_ntk.advisor import stats


def test_average_ranks_share_ties():
  assert stats.average_ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_spearman_and_kendall_by_hand():
  x, y = [1, 2, 3, 4], [1, 3, 2, 4]
  # Σd² = 2: ρ = 1 − 6·2/(4·15) = 0.8; one discordant pair of six: τ = 4/6.
  assert stats.spearman(x, y) == pytest.approx(0.8)
  assert stats.kendall(x, y) == pytest.approx(4 / 6)
  assert stats.spearman(x, x[::-1]) == pytest.approx(-1.0)
  assert stats.kendall(x, x[::-1]) == pytest.approx(-1.0)


def test_ties_follow_tau_b_and_average_ranks():
  x, y = [1, 1, 2], [1, 2, 3]
  # Pairs: (0,1) tied in x, (0,2) and (1,2) concordant: τ_b = 2/sqrt(2·3).
  assert stats.kendall(x, y) == pytest.approx(2 / math.sqrt(6))
  # Ranks x = (1.5, 1.5, 3), y = (1, 2, 3): centred (−.5, −.5, 1), (−1, 0, 1).
  assert stats.spearman(x, y) == pytest.approx(1.5 / math.sqrt(1.5 * 2))
  rng = np.random.default_rng(0)
  a, b = rng.integers(0, 4, 30), rng.normal(size=30)
  assert stats.kendall(a, b) == pytest.approx(scipy_stats.kendalltau(a, b)[0])
  assert stats.spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b)[0])


def test_constant_side_has_no_correlation():
  assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3]))
  assert math.isnan(stats.kendall([1, 2, 3], [4, 4, 4]))
  with pytest.raises(ValueError, match="NaN"):
    stats.spearman([1, math.nan], [1, 2])


def test_regret_arithmetic():
  out = stats.regret([0.80, 0.90, 0.85], advised=2, reference=0)
  assert out["best"] == 1
  assert out["regret_vs_best"] == pytest.approx(0.05)
  assert out["regret_vs_reference"] == pytest.approx(-0.05)
  assert stats.regret([0.5, 0.7], advised=1)["regret_vs_best"] == 0.0
  assert math.isnan(stats.regret([0.5, 0.7], advised=1)["regret_vs_reference"])
  with pytest.raises(ValueError, match="outside"):
    stats.regret([0.5], advised=3)


def test_bootstrap_resamples_seeds_not_pairs():
  # Identical seeds: every resample equals the full data, a zero-width interval.
  acc = np.tile([[0.1], [0.3], [0.2]], (1, 5))
  out = stats.correlation_intervals([1, 3, 2], acc, num_resamples=50)
  assert (out["spearman"].estimate, out["spearman"].low) == (1.0, 1.0)
  assert out["kendall"].high == 1.0
  # A lower-is-better score is negated: perfect agreement again.
  assert stats.correlation_intervals([3, 1, 2], acc, sign=-1)[
    "spearman"
  ].estimate == pytest.approx(1.0)
  # Seeds that disagree widen the interval around the estimate.
  noisy = np.array(
    [[0.1, 0.5, 0.1, 0.5], [0.3, 0.1, 0.3, 0.1], [0.2, 0.2, 0.2, 0.2]]
  )
  interval = stats.correlation_intervals([1, 3, 2], noisy, num_resamples=400)[
    "spearman"
  ]
  # Means (0.3, 0.2, 0.2): ranks (3, 1.5, 1.5) against (1, 3, 2): −1.5/sqrt(3).
  assert interval.estimate == pytest.approx(-1.5 / math.sqrt(3))
  assert interval.low <= interval.estimate <= interval.high
  assert interval.low < 0 < interval.high


def test_paired_difference_and_regret_interval():
  acc = np.tile([[0.1], [0.3], [0.2]], (1, 4))
  diff = stats.paired_difference([1, 3, 2], [3, 1, 2], acc, num_resamples=20)
  assert diff.estimate == pytest.approx(2.0) and diff.low == pytest.approx(2.0)
  fixed = stats.regret_interval(lambda a: 2, acc, reference=0, num_resamples=20)
  assert fixed.estimate == pytest.approx(0.1)
  vs_ref = stats.regret_interval(
    lambda a: 2, acc, reference=0, key="regret_vs_reference", num_resamples=20
  )
  assert vs_ref.estimate == pytest.approx(-0.1)
  assert stats.describe(fixed, scale=100, digits=1) == "10.0 [10.0, 10.0]"
