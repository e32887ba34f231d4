"""The complexity launcher's library half on a tiny teacher and student."""

import os

import numpy as np
import pytest

from kd_ntk.analysis import supervision_run
from kd_ntk.configs import complexity, teacher
from kd_ntk.reports import plots, tables
from kd_ntk.train import loop


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("teacher"))
  config = teacher.get_config("tiny,epochs=2")
  loop.run(config, workdir)
  return workdir


def test_rows_cover_every_target_and_are_finite(teacher_dir, tmp_path):
  config = complexity.get_config(f"tiny,teacher_workdir='{teacher_dir}'")
  rows = supervision_run.run(config, str(tmp_path))
  kinds = [(r["target"], r["teacher_epoch"], r["temperature"]) for r in rows]
  assert ("labels", "", "") in kinds and ("random_labels", "", "") in kinds
  assert {(t, tau) for k, t, tau in kinds if k == "teacher"} == {
      (t, tau) for t in (0, 1, 2) for tau in (1.0, 4.0)}
  assert all(np.isfinite(r["asc"]) and r["asc"] > 0 for r in rows)
  # Random labels are at least as complex as ... themselves under any kernel; and
  # the uniform-ish teacher at init (epoch 0, τ=4) is simpler than one-hot labels.
  asc = {(r["target"], r["teacher_epoch"], r["temperature"]): r["asc"] for r in rows}
  assert asc[("teacher", 0, 4.0)] < asc[("labels", "", "")]
  back = supervision_run.read_csv(os.path.join(str(tmp_path), "complexity.csv"))
  assert len(back) == len(rows)
  assert back[0]["asc"] == pytest.approx(rows[0]["asc"])
  assert os.path.exists(plots.asc_vs_teacher_epoch(back, str(tmp_path / "a.png")))
  assert "ridge-dominated" in tables.complexity_table(back, 0)


def test_missing_teacher_epoch_fails_before_work(teacher_dir, tmp_path):
  config = complexity.get_config(f"tiny,teacher_workdir='{teacher_dir}',teacher_epochs=(0,9)")
  with pytest.raises(ValueError, match=r"Teacher epochs \[9\] are not saved"):
    supervision_run.run(config, str(tmp_path / "out"))
  assert not os.path.exists(tmp_path / "out")


def test_teacher_workdir_required(tmp_path):
  with pytest.raises(ValueError, match="teacher_workdir is required"):
    supervision_run.run(complexity.get_config("tiny"), str(tmp_path))
