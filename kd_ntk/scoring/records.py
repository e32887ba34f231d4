"""Typed results of `kd_ntk.score_teacher`: one `Score` per target and subset,
one `Summary` per target (mean and 95% interval over subsets), and `Scores`,
which holds both and converts them to rows, CSV and a Markdown table.

Norm matching (the reproduction's C2n/C4n, `kd_ntk.science.claims`): ASC is
homogeneous of degree 1 in Y, so rescaling Y to the Frobenius norm of one-hot
labels, ‖Y‖_F = sqrt(n), gives

    ASC_nm = ASC · sqrt(n) / ‖Y‖_F,

which separates a target's structure from how soft it is (higher τ shrinks
‖Y‖_F towards sqrt(n/C) and, with it, raw ASC).
"""

import csv
import dataclasses
import math

import numpy as np

from kd_ntk.science.stats import t_interval
from kd_ntk.complexity import ComplexityResult

CONFIDENCE = 0.95


def norm_matched(asc: float, n: int, target_norm: float) -> float:
  """ASC of Y rescaled to the labels' norm: `asc · sqrt(n) / ‖Y‖_F`."""
  if not target_norm > 0:
    return math.nan
  return float(asc) * math.sqrt(n) / float(target_norm)


@dataclasses.dataclass(frozen=True)
class Interval:
  """Mean over subsets and its Student-t interval.

  Attributes:
    mean: the mean over `count` subsets.
    low, high: the `confidence` t-interval of the mean (nan for one subset).
    count: number of subsets; confidence: the interval's coverage.
  """

  mean: float
  low: float
  high: float
  count: int
  confidence: float = CONFIDENCE

  @classmethod
  def of(cls, values, confidence: float = CONFIDENCE) -> "Interval":
    values = np.asarray([v for v in values if math.isfinite(v)], np.float64)
    if len(values) == 0:
      return cls(math.nan, math.nan, math.nan, 0, confidence)
    if len(values) == 1:
      return cls(float(values[0]), math.nan, math.nan, 1, confidence)
    mean, low, high = t_interval(values, confidence)
    return cls(mean, low, high, len(values), confidence)

  def __str__(self) -> str:
    if math.isnan(self.low):
      return f"{self.mean:.4g}"
    return f"{self.mean:.4g} [{self.low:.4g}, {self.high:.4g}]"


@dataclasses.dataclass(frozen=True)
class Score:
  """One target matrix Y scored on one NTK subset of n examples.

  Attributes:
    target: "labels", "random_labels" or "teacher".
    checkpoint: the teacher checkpoint (epoch, or the key/index of the given
      logits); None for labels, random labels and a single logits matrix.
    temperature: τ of softmax(z/τ) for teacher targets, else None.
    subset: which NTK subset; draw: which random-label draw (0 otherwise).
    n: examples in the subset.
    asc: `(1/n) sqrt(SC · tr K)`; asc_norm_matched: `asc · sqrt(n)/‖Y‖_F`.
    target_norm: ‖Y‖_F; sc: `tr(Yᵀ(K + λI)⁻¹Y)`.
    ridge_dominated, ridge_sensitivity, condition_number, outside_range_share:
      the solve's diagnostics (`kd_ntk.complexity.ComplexityResult`).
    result: the whole `ComplexityResult` (ridge path, spectrum, ...).
  """

  target: str
  checkpoint: int | None
  temperature: float | None
  subset: int
  draw: int
  n: int
  asc: float
  asc_norm_matched: float
  target_norm: float
  sc: float
  ridge_dominated: bool
  ridge_sensitivity: float
  condition_number: float
  outside_range_share: float
  result: ComplexityResult = dataclasses.field(repr=False, compare=False)

  @classmethod
  def of(
    cls,
    key: tuple,
    *,
    subset: int,
    draw: int,
    targets,
    result: ComplexityResult,
  ) -> "Score":
    """The score of targets Y (N, C) under `result` (their complexity)."""
    target, checkpoint, temperature = key
    norm = float(np.linalg.norm(targets))
    return cls(
      target=target,
      checkpoint=checkpoint,
      temperature=temperature,
      subset=int(subset),
      draw=int(draw),
      n=result.n,
      asc=result.asc,
      asc_norm_matched=norm_matched(result.asc, result.n, norm),
      target_norm=norm,
      sc=result.sc,
      ridge_dominated=result.ridge_dominated,
      ridge_sensitivity=result.ridge_sensitivity,
      condition_number=result.condition_number,
      outside_range_share=result.outside_range_share,
      result=result,
    )

  @property
  def key(self) -> tuple:
    return (self.target, self.checkpoint, self.temperature)

  def as_row(self) -> dict:
    """Flat dict: these fields, then every column of `result.as_dict()`."""
    row = {
      f.name: getattr(self, f.name)
      for f in dataclasses.fields(self)
      if f.name != "result"
    }
    for k, v in self.result.as_dict().items():
      row.setdefault(k, v)
    return row


@dataclasses.dataclass(frozen=True)
class Summary:
  """One target over every subset (random-label draws averaged per subset).

  Attributes:
    target, checkpoint, temperature: as in `Score`.
    asc, asc_norm_matched: mean and 95% t-interval over subsets.
    target_norm: mean ‖Y‖_F over subsets.
    ridge_dominated: how many of its scores were flagged.
    scores: the per-subset scores it summarises.
  """

  target: str
  checkpoint: int | None
  temperature: float | None
  asc: Interval
  asc_norm_matched: Interval
  target_norm: float
  ridge_dominated: int
  scores: tuple = dataclasses.field(repr=False)

  @classmethod
  def of(cls, scores: list) -> "Summary":
    by_subset: dict[int, list] = {}
    for s in scores:
      by_subset.setdefault(s.subset, []).append(s)

    def per_subset(name):
      return [
        float(np.mean([getattr(s, name) for s in group]))
        for _, group in sorted(by_subset.items())
      ]

    first = scores[0]
    return cls(
      target=first.target,
      checkpoint=first.checkpoint,
      temperature=first.temperature,
      asc=Interval.of(per_subset("asc")),
      asc_norm_matched=Interval.of(per_subset("asc_norm_matched")),
      target_norm=float(np.mean([s.target_norm for s in scores])),
      ridge_dominated=sum(bool(s.ridge_dominated) for s in scores),
      scores=tuple(scores),
    )

  def as_row(self) -> dict:
    row = {
      "target": self.target,
      "checkpoint": self.checkpoint,
      "temperature": self.temperature,
    }
    for name in ("asc", "asc_norm_matched"):
      interval = getattr(self, name)
      row[name] = interval.mean
      row[f"{name}_low"] = interval.low
      row[f"{name}_high"] = interval.high
    row["subsets"] = self.asc.count
    row["target_norm"] = self.target_norm
    row["ridge_dominated"] = self.ridge_dominated
    return row


def _order(key: tuple) -> tuple:
  target, checkpoint, temperature = key
  rank = {"labels": 0, "random_labels": 1}.get(target, 2)
  return (rank, -1 if checkpoint is None else checkpoint, temperature or 0.0)


@dataclasses.dataclass(frozen=True)
class Scores:
  """Everything `score_teacher` measured.

  Attributes:
    scores: one `Score` per (target, subset, draw).
    summaries: one `Summary` per target: labels, random labels, then teacher
      targets by checkpoint and temperature.
    n: examples per subset; num_subsets: subsets; kernel: what K was.
  """

  scores: tuple
  summaries: tuple
  n: int
  num_subsets: int
  kernel: str

  @classmethod
  def of(cls, scores: list, kernel: str) -> "Scores":
    groups: dict[tuple, list] = {}
    for s in scores:
      groups.setdefault(s.key, []).append(s)
    summaries = tuple(Summary.of(groups[k]) for k in sorted(groups, key=_order))
    return cls(
      scores=tuple(scores),
      summaries=summaries,
      n=scores[0].n if scores else 0,
      num_subsets=len({s.subset for s in scores}),
      kernel=kernel,
    )

  def summary(
    self,
    target: str = "teacher",
    checkpoint: int | None = None,
    temperature: float | None = None,
  ) -> Summary:
    """The summary of one target, e.g. `summary("teacher", 10, 4.0)`."""
    for s in self.summaries:
      if (s.target, s.checkpoint, s.temperature) == (
        target,
        checkpoint,
        None if temperature is None else float(temperature),
      ):
        return s
    have = [(s.target, s.checkpoint, s.temperature) for s in self.summaries]
    raise KeyError(
      f"no scores for {(target, checkpoint, temperature)}; have {have}."
    )

  def to_rows(self, per_subset: bool = False) -> list[dict]:
    """Summary rows (mean, low, high per target), or every per-subset row."""
    if per_subset:
      return [s.as_row() for s in self.scores]
    return [s.as_row() for s in self.summaries]

  def to_csv(self, path: str, per_subset: bool = False) -> str:
    """Writes `to_rows(per_subset)` as CSV to `path`; returns `path`."""
    rows = self.to_rows(per_subset)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as fh:
      writer = csv.DictWriter(fh, columns)
      writer.writeheader()
      writer.writerows(rows)
    return path

  def to_markdown(self) -> str:
    """One line per target: ASC and norm-matched ASC, mean [95% interval]."""
    lines = [
      f"kernel {self.kernel}, n = {self.n}, {self.num_subsets} subset(s); "
      "mean [95% t-interval over subsets]",
      "",
      "| target | checkpoint | τ | ASC | ASC norm-matched | ‖Y‖_F | ridge-dominated |",
      "|---|---|---|---|---|---|---|",
    ]
    for s in self.summaries:
      blank = lambda v: "" if v is None else f"{v:g}"
      lines.append(
        f"| {s.target} | {blank(s.checkpoint)} | {blank(s.temperature)} | "
        f"{s.asc} | {s.asc_norm_matched} | {s.target_norm:.4g} | "
        f"{s.ridge_dominated} |"
      )
    return "\n".join(lines)

  def __str__(self) -> str:
    return self.to_markdown()
