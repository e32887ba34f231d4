"""How well each score predicts real students: the validation grid's report.

For a grid of pairs p (checkpoint, τ) and seeds s, real students give test
accuracies A[p, s] (`grid_accuracies`, through a `StudentTrainer`); the advice
gives every score per pair. For each score the report has (equations in
`kd_ntk.advisor.stats`):

  * Spearman ρ and Kendall τ_b of the score (negated where lower is better)
    with the seed-mean accuracy ā_p, with 95% bootstrap intervals resampling
    seeds;
  * the paired bootstrap difference ρ(score) − ρ(teacher accuracy) on the same
    resamples;
  * its advised pairs: the best pairs by that score. The decision score's
    advice is the advisor's rank-1 pair (its tie-breaks included); any other
    score's ties are kept as a set and its regret is the mean over the set
    (a uniform pick among equally good pairs: fair to baselines such as the
    teacher's accuracy, which ties across τ);
  * regret ā_best − ā_advised and ā_reference − ā_advised (reference: the final
    teacher of the grid at τ = 4), in accuracy units, with bootstrap intervals.

`validation_report` is a pure function of the advice and A; training lives in
`grid_accuracies`.
"""

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from kd_ntk.advisor import stats
from kd_ntk.advisor.records import SCORES, Advice, Candidate
from kd_ntk.advisor.trainers import StudentTrainer

BASELINE = "teacher_accuracy"
REFERENCE_TEMPERATURE = 4.0


@dataclasses.dataclass(frozen=True)
class ScoreValidation:
  """One score against the students (module docstring)."""

  score: str
  spearman: stats.Interval
  kendall: stats.Interval
  spearman_vs_baseline: stats.Interval
  advised: tuple[Candidate, ...]
  regret_vs_best: stats.Interval
  regret_vs_reference: stats.Interval

  def row(self) -> dict:
    out = {
      "score": self.score,
      "advised": "; ".join(c.label() for c in self.advised),
    }
    for name in (
      "spearman",
      "kendall",
      "spearman_vs_baseline",
      "regret_vs_best",
      "regret_vs_reference",
    ):
      out.update(getattr(self, name).as_dict(name))
    return out


@dataclasses.dataclass(frozen=True)
class ValidationReport:
  """Every score's validation, with the grid it was measured on."""

  candidates: tuple[Candidate, ...]
  seeds: tuple[int, ...]
  accuracy: np.ndarray  # (pairs, seeds), rows in the order of `candidates`
  scores: tuple[ScoreValidation, ...]
  decision: str
  reference: Candidate | None
  best: Candidate

  def by_score(self) -> dict[str, ScoreValidation]:
    return {s.score: s for s in self.scores}


def grid_accuracies(
  trainer: StudentTrainer,
  candidates: Sequence[Candidate],
  seeds: Sequence[int],
) -> np.ndarray:
  """A[p, s]: the test accuracy of seed s's student taught by pair p."""
  return np.array(
    [
      trainer.test_accuracy(
        epoch=c.epoch, temperature=c.temperature, seeds=list(seeds)
      )
      for c in candidates
    ],
    dtype=np.float64,
  )


def tied_best(values: Sequence[float], direction: float) -> list[int]:
  """Indices of every pair tied for the best value (nan never best)."""
  x = direction * np.asarray(values, np.float64)
  if not np.isfinite(x).any():
    return list(range(len(x)))
  best = np.nanmax(x)
  return [i for i, v in enumerate(x) if v == best]


def _set_regret(indices, reference):
  def regret_of(acc: np.ndarray, key: str) -> float:
    advised_mean = float(np.mean(acc[indices]))
    if key == "regret_vs_best":
      return float(np.max(acc)) - advised_mean
    return (
      math.nan if reference is None else float(acc[reference]) - advised_mean
    )

  return regret_of


def validation_report(
  advice: Advice,
  accuracy_PxS,
  candidates: Sequence[Candidate],
  seeds: Sequence[int],
  *,
  num_resamples: int = 2000,
  seed: int = 0,
) -> ValidationReport:
  """Correlations, intervals and regrets of every score (module docstring)."""
  accuracy = np.asarray(accuracy_PxS, np.float64)
  candidates = tuple(candidates)
  if accuracy.shape != (len(candidates), len(seeds)):
    raise ValueError(
      f"accuracy_PxS has shape {accuracy.shape}; expected "
      f"({len(candidates)}, {len(seeds)}) pairs × seeds."
    )
  found = advice.by_candidate()
  missing = [c.label() for c in candidates if c not in found]
  if missing:
    raise ValueError(f"the advice did not score {missing}; advise on the grid.")
  rows = [found[c] for c in candidates]
  last = max(c.epoch for c in candidates)
  reference_pair = Candidate(last, REFERENCE_TEMPERATURE)
  reference = (
    candidates.index(reference_pair) if reference_pair in candidates else None
  )
  kwargs = dict(num_resamples=num_resamples, seed=seed)
  baseline_values = [float(getattr(r, BASELINE)) for r in rows]
  out = []
  for score, (direction, _) in SCORES.items():
    values = [float(getattr(r, score)) for r in rows]
    if not np.all(np.isfinite(values)):
      continue
    correlations = stats.correlation_intervals(
      values, accuracy, sign=direction, **kwargs
    )
    difference = stats.paired_difference(
      values,
      baseline_values,
      accuracy,
      sign_a=direction,
      sign_b=SCORES[BASELINE][0],
      **kwargs,
    )
    if score == advice.decision:
      advised = (
        [candidates.index(advice.recommended.candidate)]
        if (advice.recommended.candidate in candidates)
        else tied_best(values, direction)
      )
    else:
      advised = tied_best(values, direction)
    regret_of = _set_regret(advised, reference)
    regrets = {
      key: stats.bootstrap_statistic(
        lambda acc, key=key: regret_of(acc, key), accuracy, **kwargs
      )
      for key in ("regret_vs_best", "regret_vs_reference")
    }
    out.append(
      ScoreValidation(
        score=score,
        spearman=correlations["spearman"],
        kendall=correlations["kendall"],
        spearman_vs_baseline=difference,
        advised=tuple(candidates[i] for i in advised),
        **regrets,
      )
    )
  mean = stats.seed_mean(accuracy)
  return ValidationReport(
    candidates=candidates,
    seeds=tuple(int(s) for s in seeds),
    accuracy=accuracy,
    scores=tuple(out),
    decision=advice.decision,
    reference=None if reference is None else reference_pair,
    best=candidates[int(np.argmax(mean))],
  )


def validate(
  advice: Advice,
  trainer: StudentTrainer,
  seeds: Sequence[int],
  *,
  num_resamples: int = 2000,
) -> ValidationReport:
  """Trains (or reads back) every pair's students and reports every score."""
  candidates = sorted(s.candidate for s in advice.scores)
  accuracy = grid_accuracies(trainer, candidates, seeds)
  return validation_report(
    advice, accuracy, candidates, seeds, num_resamples=num_resamples
  )


def without_epochs(
  advice: Advice,
  report: ValidationReport,
  epochs: Sequence[int],
  *,
  num_resamples: int = 2000,
) -> ValidationReport:
  """The same validation on the pairs whose checkpoint is not in `epochs`
  (e.g. without checkpoint 0, whose chance-level students dominate ranks)."""
  keep = [i for i, c in enumerate(report.candidates) if c.epoch not in epochs]
  return validation_report(
    advice,
    report.accuracy[keep],
    [report.candidates[i] for i in keep],
    report.seeds,
    num_resamples=num_resamples,
  )
