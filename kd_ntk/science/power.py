"""Power of a paired comparison: the smallest detectable effect, and seed plans.

A paired comparison of n replicates (seeds, NTK subsets) with differences of
standard deviation σ is decided by the two-sided one-sample t-test of its mean
(the t-interval of `kd_ntk.science.stats` excludes 0 exactly when this test
rejects at α = 1 − confidence). Under a true mean difference δ the statistic
T = d̄ / (s/√n) follows the noncentral t distribution with n − 1 degrees of
freedom and noncentrality λ = δ·√n/σ, so the power is

  power(δ) = P(T' > t_c) + P(T' < −t_c),   T' ~ t'(n − 1, λ),
  t_c      = t_{1−α/2, n−1}.

The minimum detectable effect (MDE) at power 1 − β is the δ > 0 with
power(δ) = 1 − β, found by root finding on the exact noncentral-t power
(`minimum_detectable_effect`). The textbook closed form

  MDE ≈ (t_{1−α/2, n−1} + t_{1−β, n−1}) · σ / √n

(`mde_approximation`) ignores the far tail and the noncentral shape; it is
within 1% of the exact value from n = 6 pairs on, 1.2% low at n = 5, 5% at
n = 3 and 14% at n = 2.

Plug-in: the reproduction uses the observed paired SD s as σ. With few
replicates s is itself uncertain (with 5 seeds its 95% interval spans about
0.6·s to 2.9·s), so an MDE from a pilot is a planning number, not a guarantee.

Seed planning from a pilot's SD s (`seeds_for_half_width`, `seeds_for_effect`):
the smallest n ≥ 2 whose expected half-width t_{1−α/2, n−1}·s/√n, or whose
MDE, is at most the target.
"""

import math

from scipy import optimize
from scipy import stats as scipy_stats

ALPHA = 0.05  # Two-sided level: 1 − the intervals' confidence.
POWER = 0.8  # 1 − β of the reported minimum detectable effect.
MAX_SEEDS = 1_000_000  # Plans beyond this are refused (σ/target absurd).


def _check(n: int, sd: float, alpha: float, power: float) -> None:
  if int(n) != n or n < 2:
    raise ValueError(f"n must be an integer >= 2 (pairs); got {n}.")
  if not (math.isfinite(sd) and sd >= 0):
    raise ValueError(f"sd must be finite and >= 0; got {sd}.")
  if not 0 < alpha < 1 or not alpha / 2 < power < 1:
    raise ValueError(
      f"need 0 < alpha < 1 and alpha/2 < power < 1; got alpha={alpha}, "
      f"power={power}."
    )


def power_of(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
  """Power of the two-sided paired t-test at true mean difference `effect`.

  Args:
    effect: true mean difference δ (any sign; the test is two-sided).
    sd: standard deviation σ of the paired differences (> 0).
    n: number of pairs (>= 2).
    alpha: two-sided level.

  Returns:
    P(T' > t_c) + P(T' < −t_c), T' noncentral t(n − 1, δ√n/σ).
  """
  _check(n, sd, alpha, POWER)
  if sd == 0:
    return 1.0 if effect != 0 else alpha
  df = n - 1
  t_c = scipy_stats.t.ppf(1 - alpha / 2, df)
  lam = abs(effect) * math.sqrt(n) / sd
  upper = scipy_stats.nct.sf(t_c, df, lam)
  # P(T' < −t_c) = P(T'(−λ) > t_c); scipy returns nan in the far tail, where
  # the term is below 1e-15.
  lower = scipy_stats.nct.sf(t_c, df, -lam)
  return float(upper + (0.0 if math.isnan(lower) else lower))


def mde_approximation(
  sd: float, n: int, alpha: float = ALPHA, power: float = POWER
) -> float:
  """(t_{1−α/2, n−1} + t_{power, n−1}) · σ/√n (the closed form; see above)."""
  _check(n, sd, alpha, power)
  df = n - 1
  return float(
    (scipy_stats.t.ppf(1 - alpha / 2, df) + scipy_stats.t.ppf(power, df))
    * sd
    / math.sqrt(n)
  )


def minimum_detectable_effect(
  sd: float, n: int, alpha: float = ALPHA, power: float = POWER
) -> float:
  """The δ > 0 detected with probability `power` by the two-sided paired t-test.

  Args:
    sd: standard deviation σ of the paired differences (observed: ddof = 1).
    n: number of pairs (>= 2).
    alpha, power: two-sided level and target power.

  Returns:
    δ with power_of(δ, σ, n, α) = power, in the units of σ; 0 when σ = 0.
  """
  _check(n, sd, alpha, power)
  if sd == 0:
    return 0.0
  high = mde_approximation(sd, n, alpha, power)
  while power_of(high, sd, n, alpha) < power:
    high *= 1.5
  return float(
    optimize.brentq(
      lambda d: power_of(d, sd, n, alpha) - power,
      0.0,
      high,
      xtol=1e-12 * sd,
      rtol=1e-12,
    )
  )


def expected_half_width(
  sd: float, n: int, confidence: float = 1 - ALPHA
) -> float:
  """t_{1−(1−c)/2, n−1} · σ/√n: the t-interval's half-width at SD σ."""
  _check(n, sd, 1 - confidence, POWER)
  return float(
    scipy_stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
  )


def _smallest_n(ok) -> int:
  """Smallest n >= 2 with ok(n), ok monotone in n (doubling, then bisection)."""
  if ok(2):
    return 2
  low, high = 2, 4
  while not ok(high):
    low, high = high, high * 2
    if high > MAX_SEEDS:
      raise ValueError(
        f"more than {MAX_SEEDS} seeds would be needed: the target is far "
        "below the pilot's SD; relax the target or reduce the noise."
      )
  while high - low > 1:
    mid = (low + high) // 2
    low, high = (low, mid) if ok(mid) else (mid, high)
  return high


def seeds_for_half_width(
  sd: float, half_width: float, confidence: float = 1 - ALPHA
) -> int:
  """Fewest pairs whose t-interval half-width (pilot's SD) is <= half_width."""
  if not half_width > 0:
    raise ValueError(f"half_width must be > 0; got {half_width}.")
  _check(2, sd, 1 - confidence, POWER)
  return _smallest_n(
    lambda n: expected_half_width(sd, n, confidence) <= half_width
  )


def seeds_for_effect(
  sd: float, effect: float, alpha: float = ALPHA, power: float = POWER
) -> int:
  """Fewest pairs whose minimum detectable effect (pilot's SD) is <= effect."""
  if not effect > 0:
    raise ValueError(f"effect must be > 0; got {effect}.")
  _check(2, sd, alpha, power)
  return _smallest_n(
    lambda n: minimum_detectable_effect(sd, n, alpha, power) <= effect
  )


def seed_plan(
  sd: float, half_width: float, effect: float, n_pilot: int = 0
) -> dict:
  """The seeds a run needs for both targets, from a pilot's paired SD.

  Returns:
    {"pilot_sd", "pilot_n", "seeds_for_half_width", "half_width",
    "seeds_for_effect", "effect", "seeds"} (seeds = the larger of the two).
  """
  by_width = seeds_for_half_width(sd, half_width)
  by_effect = seeds_for_effect(sd, effect)
  return {
    "pilot_sd": float(sd),
    "pilot_n": int(n_pilot),
    "half_width": float(half_width),
    "seeds_for_half_width": by_width,
    "effect": float(effect),
    "seeds_for_effect": by_effect,
    "seeds": max(by_width, by_effect),
  }
