"""The paper's ASC-against-student-epoch figure reads the online teacher at
checkpoint ⌈e·T/E⌉ (`c3_trajectory.online_teacher_epoch`), also when the
student trains longer than the teacher (C3's own run: E = 150, T = 30)."""

import math

from kd_ntk.reports import plots
from kd_ntk.science import c3_trajectory


def _rows(student_epochs, teacher_epochs):
  """One complexity row per (subset, student epoch, target); a teacher
  checkpoint's ASC encodes its epoch (asc = 100 + t) so the plotted value
  says which checkpoint was read."""
  rows = []
  for subset in (0, 1):
    for e in student_epochs:
      base = {"student_epoch": e, "subset": subset, "draw": subset}
      rows.append({**base, "target": "labels", "asc": 1.0})
      rows.append({**base, "target": "random_labels", "asc": 3.0})
      for t in teacher_epochs:
        rows.append(
          {
            **base,
            "target": "teacher",
            "teacher_epoch": float(t),
            "temperature": 1.0,
            "asc": 100.0 + t,
          }
        )
  return rows


def test_the_online_teacher_is_checkpoint_ceil_e_t_over_e():
  epochs = (0, 12, 24, 150)
  series = plots.student_epoch_series(_rows(epochs, range(31)))
  online = {e: mean - 100 for e, mean, _ in series["online teacher"]}
  assert online == {e: math.ceil(e * 30 / 150) for e in epochs}
  assert [m for _, m, _ in series["offline teacher"]] == [130.0] * len(epochs)
  assert series["labels"][0][1:] == (1.0, 0.0)  # Equal subsets: no spread.


def test_equal_lengths_read_checkpoint_e_at_epoch_e():
  assert [
    c3_trajectory.online_teacher_epoch(e, 30, 30) for e in (0, 6, 30)
  ] == [0.0, 6.0, 30.0]
  series = plots.student_epoch_series(_rows((0, 6, 30), range(0, 31, 3)))
  assert [m - 100 for _, m, _ in series["online teacher"]] == [0, 6, 30]
