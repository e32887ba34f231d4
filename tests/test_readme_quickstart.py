"""The README's quickstart runs as printed, against a teacher run it did not make.

The block after `<!-- quickstart` in README.md is written to a file and run in
a fresh Python process, in a folder whose `runs/teacher` is a teacher trained
here by the teacher loop (MLP width 8, 600 synthetic images, 2 epochs, so
checkpoints 0, 1, 2); its table and CSV are then checked.
"""

import csv
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
MAX_LINES = 15  # issue 28: a new user's script of at most 15 lines


def quickstart_code(readme: str) -> str:
  match = re.search(
    r"<!-- quickstart[^\n]*-->\n```python\n(.*?)```", readme, re.S
  )
  assert match, "README.md has no python block after a '<!-- quickstart' mark"
  return match.group(1)


CODE = quickstart_code((REPO / "README.md").read_text())


def test_the_quickstart_is_short():
  lines = [line for line in CODE.splitlines() if line.strip()]
  assert len(lines) <= MAX_LINES, f"{len(lines)} lines: keep it to {MAX_LINES}"


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
  from kd_ntk.configs import teacher as teacher_config
  from kd_ntk.train import loop as train_loop

  folder = tmp_path_factory.mktemp("quickstart")
  workdir = folder / "runs" / "teacher"
  train_loop.run(
    teacher_config.get_config("tiny,epochs=2,train_subset=600"), str(workdir)
  )
  return folder


def test_the_quickstart_runs_and_scores_every_checkpoint(teacher_run):
  (teacher_run / "quickstart.py").write_text(CODE)
  out = subprocess.run(
    [sys.executable, "quickstart.py"],
    cwd=teacher_run,
    capture_output=True,
    text=True,
    check=False,
    timeout=300,
    env={**os.environ, "PYTHONPATH": str(REPO)},
  )
  assert out.returncode == 0, out.stderr[-3000:]
  rows = [line for line in out.stdout.splitlines() if line.startswith("| ")]
  targets = [row.split("|")[1].strip() for row in rows[1:]]
  # labels, random labels, then checkpoints 0, 1, 2 at τ = 1 and 4.
  assert targets == ["labels", "random_labels"] + ["teacher"] * 6, rows
  with open(teacher_run / "scores.csv") as fh:
    table = list(csv.DictReader(fh))
  assert len(table) == 8
  asc = [float(row["asc"]) for row in table]
  assert all(value > 0 for value in asc), table
  assert asc[1] > asc[0], "random labels should be more complex than labels"
