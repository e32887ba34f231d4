"""The teacher advisor: which checkpoint and temperature to distill from, for a
given student, before any student is trained.

`advise(...)` scores every (checkpoint, τ) pair of a teacher run under the
student's NTK at initialisation (ASC, the margin bound's terms, a linearised
student, a GRACE-style gradient score, baselines) and ranks them by the score
chosen in `kd_ntk.advisor.decision`. `kd_ntk.advisor.validate` trains real
students of a grid and measures how well each score predicts them
(`kd_ntk.advisor.stats`).
"""

from kd_ntk.advisor.api import DEFAULT_TEMPERATURES, advise
from kd_ntk.advisor.decision import DEFAULT_DECISION, rank
from kd_ntk.advisor.records import SCORES, Advice, Candidate, CandidateScores
from kd_ntk.advisor.report import markdown, write_all

__all__ = [
  "DEFAULT_DECISION",
  "DEFAULT_TEMPERATURES",
  "SCORES",
  "Advice",
  "Candidate",
  "CandidateScores",
  "advise",
  "markdown",
  "rank",
  "write_all",
]
