"""Paired differences, 95% t-intervals and the four outcomes of a comparison.

Every comparison the reproduction reports is *paired*: the two arms share a
replicate (a student seed, which fixes the initialisation and the data order in
both arms; or an NTK subset, which fixes the examples and the kernel). With
per-replicate differences d_1..d_n of "prediction side minus other side",

  estimate  d̄ = (1/n) Σ_i d_i
  s         = sqrt( Σ_i (d_i − d̄)² / (n − 1) )          (sample std, ddof = 1)
  interval  d̄ ± t_{1−(1−c)/2, n−1} · s / sqrt(n)          (c = 0.95 by default)

the Student-t interval for the mean difference (it assumes the d_i are
independent and roughly normal; with 3–5 replicates that is an assumption, not
a check). The outcome of the comparison is

  SUPPORTED       the whole interval lies above 0 (the prediction's direction),
  CONTRADICTED    the whole interval lies below 0,
  NO_DIFFERENCE   the interval contains 0 ("no detectable difference"),
  NOT_TESTABLE    fewer than `min_pairs` pairs, or the regime cannot show the
                  effect (the caller says why); distinct from CONTRADICTED.

Raw means of the two arms are never compared; they are reported beside the
interval only for the reader.

Power (`kd_ntk.science.power`): every testable comparison also carries the
paired SD s and the minimum detectable effect MDE, the true difference the
two-sided paired t-test at α = 1 − c detects with 80% power at SD s (exact
noncentral t). NO_DIFFERENCE is stated as what it rules out: the interval
excludes every difference outside [low, high], so no difference larger than
max(|low|, |high|); and the run could detect (80% power) only |δ| >= MDE.
"""

import dataclasses
import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from scipy import stats as scipy_stats

from kd_ntk.science import power

SUPPORTED = "supported"
NO_DIFFERENCE = "no detectable difference"
CONTRADICTED = "contradicted"
NOT_TESTABLE = "not testable in this regime"
OUTCOMES = (SUPPORTED, NO_DIFFERENCE, CONTRADICTED, NOT_TESTABLE)

CONFIDENCE = 0.95
MIN_PAIRS = 2  # A t-interval needs n − 1 ≥ 1 degrees of freedom.


@dataclasses.dataclass(frozen=True)
class Comparison:
  """One paired comparison "a − b" and its outcome.

  Attributes:
    what: a sentence naming both arms, e.g. "online − offline test accuracy".
    estimate: mean paired difference d̄ (nan when not testable).
    low, high: the t-interval's ends (nan when not testable).
    n: number of pairs used; confidence: c of the interval.
    outcome: one of OUTCOMES.
    differences: the per-replicate differences, keyed by replicate.
    reason: why NOT_TESTABLE (empty otherwise).
    sd: sample SD (ddof = 1) of the differences (nan when not testable).
    mde: minimum detectable effect at 80% power, two-sided α = 1 − confidence,
      from sd and n (`power.minimum_detectable_effect`; nan when not testable).
  """

  what: str
  estimate: float
  low: float
  high: float
  n: int
  confidence: float
  outcome: str
  differences: dict[str, float]
  reason: str = ""
  sd: float = math.nan
  mde: float = math.nan

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)

  def interval_text(self, scale: float = 1.0, digits: int = 3) -> str:
    """ "+0.412 [−0.100, +0.924]" (scaled), or "n/a" when not testable."""
    if not math.isfinite(self.estimate):
      return "n/a"
    f = lambda v: f"{v * scale:+.{digits}f}"
    if not math.isfinite(self.low):
      return f"{f(self.estimate)} (n={self.n})"
    return f"{f(self.estimate)} [{f(self.low)}, {f(self.high)}]"

  def mde_text(self, scale: float = 1.0, digits: int = 3) -> str:
    """The minimum detectable effect, "±0.412" (scaled), or "n/a"."""
    if not math.isfinite(self.mde):
      return "n/a"
    return f"±{self.mde * scale:.{digits}f}"

  def rules_out_text(
    self, scale: float = 1.0, digits: int = 2, unit: str = ""
  ) -> str:
    """What a NO_DIFFERENCE outcome rules out, in words ("" otherwise).

    E.g. "no difference larger than 2.35 points: the interval excludes
    below −2.35 and above +0.39; 80% power only for |δ| ≥ 2.67 points".
    """
    if self.outcome != NO_DIFFERENCE or not math.isfinite(self.low):
      return ""
    bound = max(abs(self.low), abs(self.high)) * scale
    unit = f" {unit}" if unit else ""
    text = (
      f"no difference larger than {bound:.{digits}f}{unit}: the interval "
      f"excludes below {self.low * scale:+.{digits}f} and above "
      f"{self.high * scale:+.{digits}f}"
    )
    if math.isfinite(self.mde):
      text += f"; 80% power only for |δ| ≥ {self.mde * scale:.{digits}f}{unit}"
    return text


def t_interval(differences: Sequence[float], confidence: float = CONFIDENCE):
  """(mean, low, high) of the Student-t interval of the mean of `differences`.

  Args:
    differences: per-replicate paired differences, at least 2 finite values.
    confidence: two-sided coverage c in (0, 1).

  Returns:
    (d̄, d̄ − h, d̄ + h) with h = t_{1−(1−c)/2, n−1} · s / √n (s with ddof = 1).
    All n values equal gives a zero-width interval at d̄.
  """
  d = np.asarray(differences, np.float64)
  if d.ndim != 1 or len(d) < 2:
    raise ValueError(
      f"t_interval needs at least 2 differences; got {len(np.atleast_1d(d))}."
    )
  if not np.isfinite(d).all():
    raise ValueError(f"differences must be finite; got {d.tolist()}.")
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must lie in (0, 1); got {confidence}.")
  n, mean = len(d), float(d.mean())
  half = float(
    scipy_stats.t.ppf(0.5 + confidence / 2, n - 1)
    * d.std(ddof=1)
    / math.sqrt(n)
  )
  return mean, mean - half, mean + half


def outcome_of(low: float, high: float) -> str:
  """SUPPORTED above 0, CONTRADICTED below 0, NO_DIFFERENCE when 0 is inside."""
  if low > 0:
    return SUPPORTED
  if high < 0:
    return CONTRADICTED
  return NO_DIFFERENCE


def not_testable(
  what: str, reason: str, differences: Mapping | None = None
) -> Comparison:
  diffs = {str(k): float(v) for k, v in (differences or {}).items()}
  estimate = float(np.mean(list(diffs.values()))) if diffs else math.nan
  return Comparison(
    what,
    estimate,
    math.nan,
    math.nan,
    len(diffs),
    CONFIDENCE,
    NOT_TESTABLE,
    diffs,
    reason,
  )


def paired(
  what: str,
  a: Mapping[Hashable, float | None],
  b: Mapping[Hashable, float | None],
  *,
  min_pairs: int = MIN_PAIRS,
  confidence: float = CONFIDENCE,
) -> Comparison:
  """Compares arm `a` against arm `b` (prediction: a > b), paired by replicate.

  Args:
    what: description of "a − b".
    a, b: replicate (seed, subset) -> value; None or non-finite values (e.g. a
      diverged run) drop that replicate from both arms.
    min_pairs: fewer common replicates than this gives NOT_TESTABLE.

  Returns:
    A `Comparison` of the differences a[r] − b[r] over common replicates r.
  """
  usable = lambda v: v is not None and math.isfinite(float(v))
  keys = sorted(
    (k for k in a if k in b and usable(a[k]) and usable(b[k])), key=str
  )
  diffs = {str(k): float(a[k]) - float(b[k]) for k in keys}
  if len(diffs) < max(min_pairs, MIN_PAIRS):
    dropped = sorted(
      set(map(str, a)) ^ set(map(str, b))
      | {str(k) for k in a if k in b and not (usable(a[k]) and usable(b[k]))}
    )
    reason = (
      f"{len(diffs)} paired replicate(s), at least {max(min_pairs, MIN_PAIRS)} "
      "needed" + (f" (unpaired or unusable: {dropped})" if dropped else "")
    )
    return not_testable(what, reason, diffs)
  values = list(diffs.values())
  mean, low, high = t_interval(values, confidence)
  sd = float(np.std(values, ddof=1))
  mde = power.minimum_detectable_effect(sd, len(values), alpha=1 - confidence)
  return Comparison(
    what,
    mean,
    low,
    high,
    len(diffs),
    confidence,
    outcome_of(low, high),
    diffs,
    sd=sd,
    mde=mde,
  )


def combine_all(comparisons: Sequence[Comparison]) -> str:
  """Verdict of a claim that needs *every* comparison to go its way.

  SUPPORTED when all are supported; CONTRADICTED when any is contradicted;
  NOT_TESTABLE when none is contradicted and any is not testable; otherwise
  NO_DIFFERENCE.
  """
  outcomes = [c.outcome for c in comparisons]
  if not outcomes:
    return NOT_TESTABLE
  if CONTRADICTED in outcomes:
    return CONTRADICTED
  if NOT_TESTABLE in outcomes:
    return NOT_TESTABLE
  if all(o == SUPPORTED for o in outcomes):
    return SUPPORTED
  return NO_DIFFERENCE
