"""Typed records of the advice: one frozen dataclass per scored pair, one for
the whole answer, and the table of score columns with their directions.

Every score is a column of `CandidateScores`; `SCORES` says for each whether
higher or lower is better, so rankings and correlations never guess.
"""

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, order=True)
class Candidate:
  """A teacher checkpoint `epoch` (0 = initialisation) at temperature τ."""

  epoch: int
  temperature: float

  def label(self) -> str:
    return f"t={self.epoch}, tau={self.temperature:g}"


@dataclasses.dataclass(frozen=True)
class CandidateScores:
  """Every score of one (checkpoint, τ) pair; equations in kd_ntk.advisor.scores
  and kd_ntk.advisor.grace.

  Attributes:
    epoch, temperature: the pair.
    asc: ASC of Y = softmax(z_T/τ) under the student's NTK at init,
      (1/n)·sqrt(SC·tr K).
    asc_norm_matched: ASC·sqrt(n)/‖Y‖_F (Y rescaled to the norm of one-hot
      labels).
    sc: SC = tr(Yᵀ(K+λI)⁻¹Y); target_norm: ‖Y‖_F.
    bound_margin_loss, bound_complexity, bound_confidence, bound_total: the
      computable terms of the margin bound (kd_ntk.complexity.bound) with the
      linearised student's training predictions as the student.
    krr_accuracy, krr_margin_loss: the linearised student (kernel ridge
      regression on Y) on the validation split: accuracy, and the fraction of
      validation margins ≤ γ against the true labels.
    grace: GRACE-style held-out gradient score (lower is better).
    teacher_accuracy: the teacher checkpoint's accuracy on the validation split.
    target_accuracy: accuracy of argmax Y on the training subset.
    is_last: the pair uses the teacher's last saved checkpoint.
    rank: 1 = recommended, by the decision score (kd_ntk.advisor.decision).
  """

  epoch: int
  temperature: float
  asc: float
  asc_norm_matched: float
  sc: float
  target_norm: float
  bound_margin_loss: float
  bound_complexity: float
  bound_confidence: float
  bound_total: float
  krr_accuracy: float
  krr_margin_loss: float
  grace: float
  teacher_accuracy: float
  target_accuracy: float
  is_last: bool
  rank: int = 0

  @property
  def candidate(self) -> Candidate:
    return Candidate(self.epoch, self.temperature)

  def as_dict(self) -> dict[str, Any]:
    """Plain dict for one CSV row."""
    return dataclasses.asdict(self)


# Score column -> (+1 if higher is better, −1 if lower is better, description).
SCORES: dict[str, tuple[float, str]] = {
  "krr_accuracy": (+1.0, "linearised student's validation accuracy"),
  "krr_margin_loss": (-1.0, "linearised student's validation margin loss at γ"),
  "bound_total": (-1.0, "margin bound: margin loss + complexity + confidence"),
  "asc": (-1.0, "ASC of the targets under the student's NTK at init"),
  "asc_norm_matched": (-1.0, "ASC with targets rescaled to the labels' norm"),
  "grace": (-1.0, "GRACE-style held-out gradient score"),
  "teacher_accuracy": (
    +1.0,
    "baseline: teacher checkpoint's validation accuracy",
  ),
  "is_last": (+1.0, "baseline: the last checkpoint (ties across τ)"),
}


@dataclasses.dataclass(frozen=True)
class Advice:
  """The advisor's answer.

  Attributes:
    scores: every pair's scores, ranked (rank 1 first).
    recommended: the rank-1 pair.
    decision: the score column the ranking uses (kd_ntk.advisor.decision).
    student: the student's name (preset or "custom").
    n_train, n_validation: examples of the kernel subset and validation split.
    seconds: wall time of each stage (kernel, targets, scores, ...).
  """

  scores: tuple[CandidateScores, ...]
  recommended: CandidateScores
  decision: str
  student: str
  n_train: int
  n_validation: int
  seconds: dict[str, float]

  def rows(self) -> list[dict[str, Any]]:
    return [s.as_dict() for s in self.scores]

  def by_candidate(self) -> dict[Candidate, CandidateScores]:
    return {s.candidate: s for s in self.scores}
