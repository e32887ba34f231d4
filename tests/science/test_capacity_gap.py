"""The capacity gap per width (`kd_ntk.science.capacity`) on hand-made rows."""

import math

import numpy as np
from scipy import stats as scipy_stats

from kd_ntk.science import capacity


def _row(width, seed, acc, mode="none", family="cnn", **extra):
  return {
    "task": "main",
    "student_family": family,
    "student_width": width,
    "mode": mode,
    "seed": seed,
    "test_accuracy": acc,
    "diverged": False,
    **extra,
  }


def test_gap_and_interval_against_an_independent_t_interval():
  accs = {2: [0.80, 0.81, 0.805], 8: [0.87, 0.875, 0.872]}
  rows = [_row(w, s, a) for w, v in accs.items() for s, a in enumerate(v)]
  rows += [_row(2, 0, 0.99, mode="online")]  # Distilled: not a labels run.
  rows += [_row(2, 9, 0.10, diverged=True)]  # Diverged: dropped.
  gaps = capacity.capacity_gaps(rows, 0.889, "cnn")
  assert [g["width"] for g in gaps] == [2, 8] and gaps[0]["n"] == 3
  for g in gaps:
    pts = 100 * np.asarray(accs[g["width"]])
    half = scipy_stats.t.ppf(0.975, 2) * pts.std(ddof=1) / math.sqrt(3)
    assert math.isclose(g["gap"], 88.9 - pts.mean(), abs_tol=1e-9)
    assert math.isclose(g["low"], 88.9 - pts.mean() - half, abs_tol=1e-9)
    assert math.isclose(g["high"], 88.9 - pts.mean() + half, abs_tol=1e-9)
  assert gaps[0]["large"] and not gaps[1]["large"]  # 8.4 vs 1.6 points.


def test_an_interval_reaching_below_five_points_is_not_a_large_gap():
  rows = [_row(2, s, a) for s, a in enumerate([0.80, 0.86])]  # Wide interval.
  (gap,) = capacity.capacity_gaps(rows, 0.889, "cnn")
  assert gap["gap"] > 5 and gap["low"] < 5 and not gap["large"]
  (one,) = capacity.capacity_gaps(rows[:1], 0.889, "cnn")
  assert not one["large"] and math.isnan(one["low"])
  assert "one seed" in capacity.gap_table([one])


def test_the_empty_family_means_the_one_with_most_widths():
  rows = [_row(w, 0, 0.8) for w in (2, 4)] + [_row(1, 0, 0.7, family="mlp")]
  assert [g["width"] for g in capacity.capacity_gaps(rows, 0.9, "")] == [2, 4]
  assert capacity.capacity_gaps([], 0.9, "") == []
