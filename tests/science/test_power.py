"""Minimum detectable effects and seed plans against hand-computed values and a
Monte-Carlo simulation of the paired t-test (independent of scipy's noncentral t)."""

import math

import numpy as np
import pytest

from kd_ntk.science import power, stats

# Student-t quantiles from a printed t-table: t_{0.975, 4} and t_{0.80, 4}.
T975_4, T80_4 = 2.776445105, 0.940964577


def test_closed_form_matches_the_t_table():
  # (t_{.975,4} + t_{.80,4}) · σ/√5 at σ = 1.59 (C5a's paired SD in issue 24).
  want = (T975_4 + T80_4) * 1.59 / math.sqrt(5)
  assert power.mde_approximation(1.59, 5) == pytest.approx(want, rel=1e-8)


def test_exact_mde_has_80_percent_power_in_a_simulated_t_test():
  rng = np.random.default_rng(0)
  for n in (2, 5, 12):
    sd = 1.7
    mde = power.minimum_detectable_effect(sd, n)
    d = rng.normal(mde, sd, size=(40_000, n))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    t_c = {2: 12.706204736, 5: T975_4, 12: 2.200985160}[n]
    rate = float(np.mean(np.abs(t) > t_c))
    assert rate == pytest.approx(0.8, abs=0.01), (n, rate)
    assert power.power_of(mde, sd, n) == pytest.approx(0.8, abs=1e-9)


def test_exact_and_closed_form_agree_from_six_pairs_and_differ_at_two():
  for n in (6, 10, 30, 200):
    exact = power.minimum_detectable_effect(1.0, n)
    assert power.mde_approximation(1.0, n) == pytest.approx(exact, rel=0.01)
  # At n = 2 the closed form is 14% low (the far tail it ignores matters).
  ratio = power.mde_approximation(1.0, 2) / power.minimum_detectable_effect(
    1.0, 2
  )
  assert 0.8 < ratio < 0.9


def test_the_issue_numbers_recompute():
  # Issue 24: SD 1.59 with 5 seeds detects 2.7 points; 1 point needs 22 seeds,
  # 0.5 points 82; SD 1.81 (C5b) gives 3.1, SD 2.41 (C7) 4.1.
  assert power.minimum_detectable_effect(1.59, 5) == pytest.approx(
    2.7, abs=0.05
  )
  assert power.minimum_detectable_effect(1.81, 5) == pytest.approx(3.1, abs=0.1)
  assert power.minimum_detectable_effect(2.41, 5) == pytest.approx(4.1, abs=0.1)
  assert power.seeds_for_effect(1.59, 1.0) == 22
  assert power.seeds_for_effect(1.59, 0.5) == 82


def test_seed_plans_are_the_smallest_sufficient_n():
  sd, h = 1.59, 0.5
  n = power.seeds_for_half_width(sd, h)
  assert (
    power.expected_half_width(sd, n) <= h < power.expected_half_width(sd, n - 1)
  )
  # Linear scan, written independently of the bisection.
  scan = next(
    k for k in range(2, 1000) if power.expected_half_width(sd, k) <= h
  )
  assert n == scan
  e = power.seeds_for_effect(0.91, 0.5)
  assert power.minimum_detectable_effect(0.91, e) <= 0.5
  assert power.minimum_detectable_effect(0.91, e - 1) > 0.5
  plan = power.seed_plan(sd, h, 1.0, n_pilot=5)
  assert plan["seeds"] == max(n, 22)
  assert power.seeds_for_effect(0.1, 5.0) == 2  # Already enough at 2 pairs.


def test_bad_inputs_fail_with_a_message():
  with pytest.raises(ValueError, match="n must be"):
    power.minimum_detectable_effect(1.0, 1)
  with pytest.raises(ValueError, match="sd must be"):
    power.minimum_detectable_effect(float("nan"), 5)
  with pytest.raises(ValueError, match="half_width"):
    power.seeds_for_half_width(1.0, 0.0)
  with pytest.raises(ValueError, match="seeds would be needed"):
    power.seeds_for_effect(1.0, 1e-6)
  assert power.minimum_detectable_effect(0.0, 4) == 0.0


def test_paired_comparisons_carry_sd_mde_and_what_they_rule_out():
  a = {s: v for s, v in enumerate([0.80, 0.79, 0.82, 0.78, 0.81])}
  b = {s: v for s, v in enumerate([0.79, 0.80, 0.80, 0.79, 0.80])}
  c = stats.paired("a − b", a, b)
  d = np.array([a[s] - b[s] for s in a])
  assert c.sd == pytest.approx(d.std(ddof=1))
  assert c.mde == pytest.approx(power.minimum_detectable_effect(c.sd, 5))
  assert c.outcome == stats.NO_DIFFERENCE
  text = c.rules_out_text(scale=100, unit="points")
  bound = 100 * max(abs(c.low), abs(c.high))
  assert f"no difference larger than {bound:.2f} points" in text
  assert f"|δ| ≥ {100 * c.mde:.2f}" in text
  # Old verdicts.json entries (without sd / mde) still load.
  old = {k: v for k, v in c.as_dict().items() if k not in ("sd", "mde")}
  assert stats.Comparison(**old).mde_text() == "n/a"
  assert stats.paired("x", {0: 1.0}, {0: 0.0}).rules_out_text() == ""
