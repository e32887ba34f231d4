"""Which score the recommendation uses, and why (decided before any validation).

Decision (written and committed before the first validation grid was run):
the advice ranks pairs by the **linearised student's validation accuracy**,

  krr_accuracy(t, τ)
    = (1/m) Σ_j 1[argmax_c (K_V (K + λI)⁻¹ Y_{t,τ})_{j,c} = y_V,j],

higher first; ties (common: m validation examples give steps of 1/m) are broken
by the lower linearised margin loss at γ, then the lower norm-matched ASC, then
the later checkpoint, then the higher τ (`TIE_BREAKS`).

Why this score:

* It weighs simplicity against accuracy in one number, in accuracy units. Y
  enters through the kernel's solve: targets the student's NTK represents
  with little weight outside its top eigen-directions (low supervision
  complexity) are reproduced on unseen examples, complex ones are not; and
  inaccurate targets (early checkpoints, whose argmax disagrees with the
  labels) are reproduced as inaccurate predictions. Checkpoint 0 (near-uniform,
  random argmax) scores near chance, so the score does not share ASC's
  preference for it.
* It is invariant to what should not matter: rescaling Y, and adding the same
  constant to every class of an example (the uniform part of softmax(z/τ) at
  high τ), since argmax ignores both.
* The alternatives fail for known reasons. Pure ASC (raw or norm-matched) falls
  with flatter targets and ranks checkpoint 0 and high τ first. The bound's
  total is vacuous at n ≈ 1000 (its complexity term, (2/(γn))·sqrt(SC·tr K)·2C,
  is far above 1) and so ranks like ASC. The GRACE-style score is an
  adaptation of a language-model score, unvalidated here. Teacher accuracy
  cannot tell temperatures apart.

Its limits, stated before the data: the linearised student is the NTK regime
of the student (its kernel frozen at initialisation, trained by squared loss
to the ridge's fit) on n kernel examples, while real students move their
kernel, train with KL at τ and see the whole training set; where feature
learning dominates, the ranking across temperatures may be wrong.
"""

import math
from collections.abc import Sequence

from kd_ntk.advisor.records import SCORES, CandidateScores

DEFAULT_DECISION = "krr_accuracy"
# (column, direction) applied in order after the decision score.
TIE_BREAKS = (
  ("krr_margin_loss", -1.0),
  ("asc_norm_matched", -1.0),
  ("epoch", +1.0),
  ("temperature", +1.0),
)


def check_decision(decision: str) -> str:
  if decision not in SCORES:
    raise ValueError(
      f"unknown decision score {decision!r}; choose one of {', '.join(SCORES)}."
    )
  return decision


def _key(scores: CandidateScores, decision: str) -> tuple:
  direction = SCORES[decision][0]
  columns = ((decision, direction),) + TIE_BREAKS
  key = []
  for column, sign in columns:
    value = float(getattr(scores, column))
    # nan sorts last whatever the direction.
    missing = math.isnan(value)
    key.append((missing, 0.0 if missing else -sign * value))
  return tuple(key)


def rank(
  scores: Sequence[CandidateScores], decision: str = DEFAULT_DECISION
) -> list[int]:
  """Indices of `scores`, best first by `decision` and `TIE_BREAKS`."""
  check_decision(decision)
  return sorted(range(len(scores)), key=lambda i: _key(scores[i], decision))


def best_index(values: Sequence[float], direction: float) -> int:
  """Index of the best value for a score of this direction (first of ties)."""
  keyed = [
    (math.isnan(v), 0.0 if math.isnan(v) else -direction * v, i)
    for i, v in enumerate(map(float, values))
  ]
  return min(keyed)[2]
