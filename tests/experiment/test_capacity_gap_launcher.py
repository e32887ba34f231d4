"""experiments/capacity_gap.py end to end on the tiny reproduction config,
and its refusal of a plan without an interval, before anything is written."""

import os

from launch_helpers import run_script

CONFIG = "--config=kd_ntk/configs/reproduce.py:tiny"


def test_capacity_gap_trains_the_students_and_writes_the_table(tmp_path):
  out = run_script(
    "capacity_gap.py",
    CONFIG,
    f"--workdir={tmp_path}",
    "--widths=1,2",
    "--seeds=0,1",
  )
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.count('"student_width"') == 4  # 2 widths x 2 seeds.
  table = (tmp_path / "capacity_gap.md").read_text()
  assert "| 1 | 2 |" in table and "| 2 | 2 |" in table
  assert "gap (points) [95% CI]" in out.stdout


def test_one_seed_is_refused_before_anything_is_written(tmp_path):
  workdir = tmp_path / "w"
  out = run_script(
    "capacity_gap.py", CONFIG, f"--workdir={workdir}", "--seeds=0"
  )
  assert out.returncode == 2
  assert "--seeds needs >= 2 seeds" in out.stderr.strip().splitlines()[-1]
  assert not os.path.exists(workdir)
