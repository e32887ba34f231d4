"""Rank correlations, a bootstrap over student seeds, and regret: pure
functions.

The validation grid gives, for every candidate pair p = (checkpoint, τ) and
every student seed s, a test accuracy `A[p, s]`; each advisor score gives one
number `x_p` per pair. The statistics compare the score with the students'
mean accuracy `ā_p = (1/S) Σ_s A[p, s]`:

  Spearman   ρ = Pearson correlation of the average ranks of x and ā
             (tied values share the mean of their ranks);
  Kendall    τ_b = (n_c − n_d) / sqrt((n_0 − n_x)(n_0 − n_a)),
             n_c / n_d concordant / discordant pairs, n_0 = P(P−1)/2, n_x and
             n_a the pairs tied in x and in ā (Kendall's tau-b);
  bootstrap  resample the S seeds with replacement B times (the same seeds for
             every pair: a seed is one replicate of the whole grid), recompute
             ā and the statistic; the 95% interval is the 2.5% and 97.5%
             percentiles of the B values. A paired difference of two scores
             uses the same resamples for both;
  regret     ā_best − ā_advised (≥ 0), and ā_reference − ā_advised against a
             reference pair (e.g. the final teacher at τ = 4; negative when the
             advice beats it); in accuracy units (× 100 for points).

A score where *lower* is better is negated before it is correlated (`sign`).
Constant inputs have no rank correlation: the functions return nan.
"""

import dataclasses
import math
from collections.abc import Callable

import numpy as np


def average_ranks(values) -> np.ndarray:
  """Ranks 1..n of `values`, ties sharing the mean of their ranks."""
  x = np.asarray(values, dtype=np.float64)
  order = np.argsort(x, kind="mergesort")
  ranks = np.empty(len(x), np.float64)
  sorted_x = x[order]
  start = 0
  while start < len(x):
    stop = start + 1
    while stop < len(x) and sorted_x[stop] == sorted_x[start]:
      stop += 1
    ranks[order[start:stop]] = (start + 1 + stop) / 2.0  # mean of start+1..stop
    start = stop
  return ranks


def _check_pair(x, y) -> tuple[np.ndarray, np.ndarray]:
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y, dtype=np.float64)
  if x.ndim != 1 or x.shape != y.shape:
    raise ValueError(
      f"need two 1-D arrays of the same length; got {x.shape} and {y.shape}."
    )
  if not (np.isfinite(x).all() and np.isfinite(y).all()):
    raise ValueError("correlation inputs contain NaN or inf; drop those pairs.")
  return x, y


def spearman(x, y) -> float:
  """Spearman's ρ with average ranks for ties (nan if a side is constant)."""
  x, y = _check_pair(x, y)
  if len(x) < 2:
    return math.nan
  rx, ry = average_ranks(x), average_ranks(y)
  rx, ry = rx - rx.mean(), ry - ry.mean()
  denominator = math.sqrt(float(np.sum(rx * rx) * np.sum(ry * ry)))
  return math.nan if denominator == 0 else float(np.sum(rx * ry) / denominator)


def kendall(x, y) -> float:
  """Kendall's τ_b (ties in either variable counted; nan if one is constant)."""
  x, y = _check_pair(x, y)
  n = len(x)
  if n < 2:
    return math.nan
  i, j = np.triu_indices(n, k=1)
  dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
  concordant_minus_discordant = float(np.sum(dx * dy))
  # n_0 − n_x and n_0 − n_a: the pairs not tied in x, not tied in y.
  untied_x, untied_y = float(np.sum(dx != 0)), float(np.sum(dy != 0))
  denominator = math.sqrt(untied_x * untied_y)
  return (
    math.nan if denominator == 0 else concordant_minus_discordant / denominator
  )


@dataclasses.dataclass(frozen=True)
class Interval:
  """A statistic on the full data and its bootstrap percentile interval."""

  estimate: float
  low: float
  high: float
  resamples: int

  def as_dict(self, prefix: str) -> dict:
    return {
      prefix: self.estimate,
      f"{prefix}_low": self.low,
      f"{prefix}_high": self.high,
    }


def seed_resamples(num_seeds: int, num_resamples: int, seed: int) -> np.ndarray:
  """(B, S) seed indices drawn with replacement; row b is one replicate."""
  if num_seeds < 1 or num_resamples < 1:
    raise ValueError(
      f"need at least 1 seed and 1 resample; got {num_seeds} and {num_resamples}."
    )
  rng = np.random.default_rng(seed)
  return rng.integers(0, num_seeds, size=(num_resamples, num_seeds))


def seed_mean(accuracy_PxS) -> np.ndarray:
  """ā per pair, rounded to 12 decimals so that equal accuracies summed in a
  different order stay tied (0.3+0.1+0.3+0.1 ≠ 4·0.2 in floating point)."""
  return np.round(np.asarray(accuracy_PxS, np.float64).mean(axis=1), 12)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
  finite = values[np.isfinite(values)]
  if finite.size == 0:
    return math.nan, math.nan
  tail = 100 * (1 - confidence) / 2
  low, high = np.percentile(finite, [tail, 100 - tail])
  return float(low), float(high)


def bootstrap_statistic(
  statistic: Callable[[np.ndarray], float],
  accuracy_PxS,
  *,
  num_resamples: int = 2000,
  seed: int = 0,
  confidence: float = 0.95,
) -> Interval:
  """`statistic(ā)` on the full grid, with a percentile interval over seeds.

  Args:
    statistic: maps the per-pair mean accuracies ā (P,) to a number.
    accuracy_PxS: students' test accuracies, one row per pair, one column per
      seed.
    num_resamples: B bootstrap replicates (seeds resampled with replacement).
    seed: seed of the resampling.
    confidence: coverage of the interval.
  """
  accuracy = np.asarray(accuracy_PxS, dtype=np.float64)
  if accuracy.ndim != 2:
    raise ValueError(
      f"accuracy_PxS must be 2-D (pairs, seeds); got {accuracy.shape}."
    )
  estimate = float(statistic(seed_mean(accuracy)))
  picks = seed_resamples(accuracy.shape[1], num_resamples, seed)
  values = np.array([statistic(seed_mean(accuracy[:, row])) for row in picks])
  low, high = _percentiles(values, confidence)
  return Interval(estimate, low, high, int(num_resamples))


def correlation_intervals(
  score_P,
  accuracy_PxS,
  *,
  sign: float = 1.0,
  num_resamples: int = 2000,
  seed: int = 0,
) -> dict[str, Interval]:
  """Spearman and Kendall of `sign · score` with the seed-mean accuracy, with
  bootstrap intervals over seeds (the score is fixed: it needs no student)."""
  score = sign * np.asarray(score_P, dtype=np.float64)
  return {
    name: bootstrap_statistic(
      lambda a, fn=fn: fn(score, a),
      accuracy_PxS,
      num_resamples=num_resamples,
      seed=seed,
    )
    for name, fn in (("spearman", spearman), ("kendall", kendall))
  }


def paired_difference(
  score_a_P,
  score_b_P,
  accuracy_PxS,
  *,
  sign_a: float = 1.0,
  sign_b: float = 1.0,
  correlation: Callable = spearman,
  num_resamples: int = 2000,
  seed: int = 0,
) -> Interval:
  """corr(a, ā) − corr(b, ā) on the same seed resamples (paired bootstrap)."""
  a = sign_a * np.asarray(score_a_P, dtype=np.float64)
  b = sign_b * np.asarray(score_b_P, dtype=np.float64)
  return bootstrap_statistic(
    lambda acc: correlation(a, acc) - correlation(b, acc),
    accuracy_PxS,
    num_resamples=num_resamples,
    seed=seed,
  )


def regret(
  mean_accuracy_P, advised: int, reference: int | None = None
) -> dict[str, float]:
  """Regret of the advised pair, in accuracy units (see the module docstring).

  Args:
    mean_accuracy_P: seed-mean test accuracy of every pair.
    advised: index of the advised pair.
    reference: index of a reference pair (e.g. final teacher at τ = 4), or None.

  Returns:
    {"best": index of the best pair, "regret_vs_best": ā_best − ā_advised,
     "regret_vs_reference": ā_reference − ā_advised (nan without a reference)}.
  """
  accuracy = np.asarray(mean_accuracy_P, dtype=np.float64)
  if accuracy.ndim != 1 or accuracy.size == 0:
    raise ValueError(
      f"mean_accuracy_P must be 1-D and non-empty; got {accuracy.shape}."
    )
  for name, index in (("advised", advised), ("reference", reference)):
    if index is not None and not 0 <= index < accuracy.size:
      raise ValueError(
        f"{name} index {index} is outside 0..{accuracy.size - 1}."
      )
  best = int(np.argmax(accuracy))
  return {
    "best": best,
    "regret_vs_best": float(accuracy[best] - accuracy[advised]),
    "regret_vs_reference": math.nan
    if reference is None
    else float(accuracy[reference] - accuracy[advised]),
  }


def regret_interval(
  choose: Callable[[np.ndarray], int],
  accuracy_PxS,
  *,
  reference: int | None = None,
  key: str = "regret_vs_best",
  num_resamples: int = 2000,
  seed: int = 0,
) -> Interval:
  """Bootstrap interval of a regret over seeds; `choose(ā)` returns the advised
  pair (a fixed advice ignores its argument)."""
  return bootstrap_statistic(
    lambda acc: regret(acc, choose(acc), reference)[key],
    accuracy_PxS,
    num_resamples=num_resamples,
    seed=seed,
  )


def describe(interval: Interval, scale: float = 1.0, digits: int = 3) -> str:
  """Text "0.830 [0.710, 0.900]" of an interval (values times `scale`)."""
  e, lo, hi = (
    scale * v for v in (interval.estimate, interval.low, interval.high)
  )
  return f"{e:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
