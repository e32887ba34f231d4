"""Score a teacher's targets for a student in one call: `score_teacher`.

    scores = kd_ntk.score_teacher(
        f, params, x, labels=y, targets="runs/teacher", temperatures=(1, 4),
        subsets=3,
    )
    print(scores.to_markdown()); scores.to_csv("scores.csv")

`score_teacher` computes the student's NTK on each subset and scores labels,
random labels and every (checkpoint, τ) of the teacher (`score.py`); the
records are frozen dataclasses (`records.py`); subsets and target matrices are
built as the reproduction builds them (`inputs.py`).
"""

from kd_ntk.scoring.records import (
  Interval,
  Score,
  Scores,
  Summary,
  norm_matched,
)
from kd_ntk.scoring.score import score_gram, score_teacher

__all__ = [
  "Interval",
  "Score",
  "Scores",
  "Summary",
  "norm_matched",
  "score_gram",
  "score_teacher",
]
