"""The seed grid (`kd_ntk.distill.seed_grid`): many student runs in one process
write exactly the records of the same runs made alone, compile one step per
distinct student, and resume after SIGKILL to the same records."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from kd_ntk.experiment import student_runs
from kd_ntk.grid import records
from kd_ntk.grid.layout import Layout
from kd_ntk.configs import distill as distill_config
from kd_ntk.configs import reproduce
from kd_ntk.distill import plan as plan_lib
from kd_ntk.distill.seed_grid import Shared
from kd_ntk.train import integrity
from kd_ntk.train import runs as run_reading
from kd_ntk.train import workdir as wd

STUDENT = records.Student("cnn-w2", "cnn", 2)
METHODS = (
  records.TeachingMethod("labels", "none"),
  records.TeachingMethod("offline τ=4", "offline", 4.0),
  records.TeachingMethod("online τ=4", "online", 4.0),
)
SEEDS = (0, 1)
# Fields that hold wall-clock times: the only ones allowed to differ.
TIMING = ("seconds", "eval_seconds")


def _grid(root, teacher_dir, one_process, shared=None, eval_every=1):
  """Runs the tiny reproduction's student grid under `root`; result rows."""
  os.makedirs(root, exist_ok=True)
  link = os.path.join(root, "teacher")
  if not os.path.exists(link):
    os.symlink(teacher_dir, link)
  run = reproduce.get_config("tiny").students_run
  if eval_every != 1:
    run.eval_every = eval_every
  teacher = wd.load_config(teacher_dir)
  grid = [
    student_runs.GridRun("main", teacher, STUDENT, method, seed)
    for method in METHODS
    for seed in SEEDS
  ]
  return student_runs.run_grid(
    grid,
    student_runs.GridSettings(layout=Layout(root), students_run=run),
    student_runs.Progress(len(grid)),
    one_process=one_process,
    shared=shared,
  )


def _records(root):
  """Per run: metrics rows without timings, config.json, the teacher binding,
  the step list with each step's recorded weight digest, and every
  checkpoint's variables."""
  out = {}
  layout = Layout(root)
  for method in METHODS:
    for seed in SEEDS:
      run = layout.student_run("main", STUDENT, method, seed)
      rows = [
        {k: v for k, v in r.items() if k not in TIMING}
        for r in wd.read_metrics(run)
      ]
      files = {}  # The grid's own folder named alike (the teacher's link).
      for name in ("config.json", "teacher_fingerprint.json"):
        with open(os.path.join(run, name)) as fh:
          files[name] = json.loads(fh.read().replace(root, "<root>"))
      epochs = run_reading.saved_epochs(run)
      # The checksum records' weight digests (file checksums hold orbax's
      # timestamps, so two equal runs differ there).
      digests = [integrity.read_record(run, e)["content"] for e in epochs]
      weights = [
        jax.tree_util.tree_map(
          np.asarray, run_reading.restore_variables(run, e)
        )
        for e in epochs
      ]
      out[(method.slug, seed)] = (rows, files, (epochs, digests), weights)
  return out


def _assert_same_records(a, b):
  assert a.keys() == b.keys()
  for key in a:
    rows_a, files_a, epochs_a, weights_a = a[key]
    rows_b, files_b, epochs_b, weights_b = b[key]
    assert rows_a == rows_b, key
    assert files_a == files_b, key
    assert epochs_a == epochs_b, key
    for wa, wb in zip(weights_a, weights_b):
      leaves_a = jax.tree_util.tree_leaves_with_path(wa)
      leaves_b = jax.tree_util.tree_leaves_with_path(wb)
      assert [p for p, _ in leaves_a] == [p for p, _ in leaves_b]
      for (path, x), (_, y) in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(x, y, err_msg=f"{key} {path}")


@pytest.fixture(scope="module")
def single(root, teacher_dir):
  """The grid with every run alone (the path before the seed grid)."""
  path = os.path.join(root, "grid_single")
  return path, _grid(path, teacher_dir, one_process=False)


def test_grid_records_equal_single_runs(root, teacher_dir, single):
  single_root, single_rows = single
  shared = Shared()
  grid_root = os.path.join(root, "grid_shared")
  grid_rows = _grid(grid_root, teacher_dir, one_process=True, shared=shared)
  assert grid_rows == single_rows  # Result rows, margin loss included.
  assert all(not r["diverged"] for r in grid_rows)
  _assert_same_records(_records(grid_root), _records(single_root))
  # One data load, one teacher, one step for labels and one for both KD modes
  # (same architecture, τ and optimizer), one evaluator; each compiled once.
  assert shared.built == {
    "splits": 1,
    "sets": 1,
    "teachers": 1,
    "students": 2,
    "evaluators": 1,
  }
  for student in shared._students.values():  # pylint: disable=protected-access
    assert student.step._cache_size() == 1  # pylint: disable=protected-access
  assert shared.timer.seconds["training"] > 0
  # A second pass finds every run finished and returns the same rows.
  assert _grid(grid_root, teacher_dir, one_process=True) == single_rows


def test_eval_every_changes_only_the_skipped_rows(root, teacher_dir, single):
  """eval_every=2 of 2 epochs skips epoch 1's evaluation; training, the final
  row and the result rows are untouched."""
  _, single_rows = single
  path = os.path.join(root, "grid_every2")
  rows = _grid(path, teacher_dir, one_process=True, eval_every=2)
  assert rows == single_rows
  run = Layout(path).student_run("main", STUDENT, METHODS[2], 0)
  full = wd.read_metrics(
    Layout(single[0]).student_run("main", STUDENT, METHODS[2], 0)
  )
  sparse = wd.read_metrics(run)
  assert sparse[1]["test_accuracy"] is None and "test_loss" not in sparse[1]
  assert sparse[1]["train_loss"] == full[1]["train_loss"]
  assert sparse[1]["teacher_epoch"] == full[1]["teacher_epoch"]
  for r in (0, 2):
    assert {k: v for k, v in sparse[r].items() if k not in TIMING} == {
      k: v for k, v in full[r].items() if k not in TIMING
    }


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_eval_every_refused_before_any_work(value):
  config = distill_config.get_config("tiny,offline")
  config.eval_every = value
  with pytest.raises(ValueError, match="eval_every must be an integer >= 1"):
    plan_lib.check_fields(config)


def test_evaluated_epochs():
  assert [e for e in range(11) if plan_lib.evaluated(e, 10, 4)] == [0, 4, 8, 10]
  assert [e for e in range(4) if plan_lib.evaluated(e, 3, 1)] == [0, 1, 2, 3]


KILLER = textwrap.dedent(
  """
  import os, signal, sys
  from kd_ntk.train.recorder import Recorder
  sys.path.insert(0, {tests!r})
  from distill import test_seed_grid as t

  kill_at, record, count = int(sys.argv[1]), Recorder.record, [0]

  def record_then_die(self, epoch, state, row):
    record(self, epoch, state, row)
    count[0] += 1
    if count[0] == kill_at:
      self._mngr.wait_until_finished()
      os.kill(os.getpid(), signal.SIGKILL)

  Recorder.record = record_then_die
  t._grid(sys.argv[2], sys.argv[3], one_process=True)
  """
)


def test_grid_resumes_after_sigkill_to_the_same_records(
  root, teacher_dir, single, tmp_path
):
  """The grid is killed (SIGKILL) right after the 5th epoch record of the
  process (the second run's epoch 1 of 0..2), then rerun: every run's records
  and the result rows equal the uninterrupted runs'."""
  single_root, single_rows = single
  path = os.path.join(root, "grid_killed")
  script = tmp_path / "killed_grid.py"
  script.write_text(
    KILLER.format(tests=os.path.dirname(os.path.dirname(__file__)))
  )
  proc = subprocess.run(
    [sys.executable, str(script), "5", path, teacher_dir],
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == -9, proc.stderr[-2000:]
  second = Layout(path).student_run("main", STUDENT, METHODS[0], SEEDS[1])
  assert run_reading.saved_epochs(second) == [0, 1]  # Killed mid-run.
  rows = _grid(path, teacher_dir, one_process=True)
  assert rows == single_rows
  _assert_same_records(_records(path), _records(single_root))
