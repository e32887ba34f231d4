"""A report's figures/ holds this invocation's figures only: plots an earlier
invocation drew for students no longer in the plan are removed, and nothing
else in the folder is touched."""

import os

from kd_ntk.reports import report


def _touch(folder, name):
  path = os.path.join(folder, name)
  with open(path, "w") as f:
    f.write("x")
  return path


def test_only_the_reports_own_stale_figures_are_removed(tmp_path):
  folder = str(tmp_path / "figures")
  os.makedirs(folder)
  made = [_touch(folder, "test_accuracy_cnn-w2.png")]
  made.append(_touch(folder, "asc_vs_teacher_epoch.png"))
  stale = [
    _touch(folder, "test_accuracy_cnn-w8.png"),
    _touch(folder, "asc_vs_student_epoch.png"),
  ]
  mine = [_touch(folder, "my_notes.png"), _touch(folder, "asc_vs_x.txt")]
  removed = report.drop_stale_figures(folder, made)
  assert sorted(removed) == sorted(stale)
  assert all(os.path.exists(p) for p in made + mine)
  assert not any(os.path.exists(p) for p in stale)


def test_a_missing_folder_removes_nothing(tmp_path):
  assert report.drop_stale_figures(str(tmp_path / "none"), []) == []
