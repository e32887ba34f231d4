"""Damaged runs repaired on resume, non-finite runs stopped, launcher exit 2."""

import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from bad_input_table import (
  REPO,
  copy_run,
  flip_bytes,
  largest_data_file,
  start_lock_holder,
)

from kd_ntk.configs import teacher as teacher_config
from kd_ntk.train import checkpoint, health, integrity, loop, runs
from kd_ntk.train import workdir as wd


# --- Damage a resume repairs: fall back to the last intact step, with a warning. ---
def _without_seconds(rows):
  return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_corrupt_step_is_detected_and_the_resume_falls_back(
  teacher_dir, tmp_path, capsys
):
  run = copy_run(teacher_dir, str(tmp_path / "teacher"))
  original = wd.read_metrics(run)
  flip_bytes(largest_data_file(run, 1))
  assert "differs from its checksum" in integrity.problem(run, 1)
  assert integrity.problem(run, 0) is None and integrity.problem(run, 2) is None
  with pytest.raises(
    integrity.CorruptCheckpointError, match="checkpoint step 1 is corrupt"
  ):
    runs.restore_variables(run, 1)
  rows = loop.run(teacher_config.get_config("tiny,epochs=2"), run)
  err = capsys.readouterr().err
  assert (
    "checkpoint step 1 is unusable" in err and "deleting steps [1, 2]" in err
  )
  assert _without_seconds(rows) == _without_seconds(
    original
  )  # Recomputed exactly.
  assert checkpoint.saved_epochs(run) == [0, 1, 2]
  assert all(integrity.problem(run, s) is None for s in (0, 1, 2))
  for step in (1, 2):  # The recomputed weights equal the original ones.
    for a, b in zip(
      *(jax_leaves(runs.restore_variables(d, step)) for d in (run, teacher_dir))
    ):
      np.testing.assert_array_equal(a, b)


def jax_leaves(tree):
  import jax  # Local: only these tests compare arrays.

  return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_half_written_metrics_line_is_repaired_from_the_checkpoints(
  teacher_dir, tmp_path, capsys
):
  run = copy_run(teacher_dir, str(tmp_path / "teacher"))
  original = wd.read_metrics(run)
  path = os.path.join(run, wd.METRICS_FILE)
  text = open(path).read().splitlines(keepends=True)
  with open(path, "w") as fh:
    fh.writelines(text[:2] + [text[2][:25]])  # The row of epoch 2 cut mid-way.
  rows = loop.run(teacher_config.get_config("tiny,epochs=2"), run)
  err = capsys.readouterr().err
  assert "metrics.jsonl has no row for it" in err and "line 3 is damaged" in err
  assert _without_seconds(rows) == _without_seconds(original)


def test_interrupted_save_without_checksums_is_recomputed(
  teacher_dir, tmp_path, capsys
):
  run = copy_run(teacher_dir, str(tmp_path / "teacher"))
  os.remove(
    os.path.join(run, "integrity", "2.json")
  )  # Killed between save and record.
  rows = loop.run(teacher_config.get_config("tiny,epochs=2"), run)
  assert "no checksum record" in capsys.readouterr().err
  assert [r["epoch"] for r in rows] == [0, 1, 2] and integrity.problem(
    run, 2
  ) is None


def test_run_without_integrity_records_is_refused_then_rebuilt(
  teacher_dir, tmp_path, capsys
):
  """Integrity fails closed: no records, no trust; the rerun rebuilds exactly."""
  run = copy_run(teacher_dir, str(tmp_path / "teacher"))
  original = wd.read_metrics(run)
  shutil.rmtree(os.path.join(run, "integrity"))
  with pytest.raises(
    integrity.CorruptCheckpointError,
    match=r"step 2 is corrupt \(its checksum records \(integrity/\) are missing",
  ):
    runs.restore_variables(run, 2)
  rows = loop.run(teacher_config.get_config("tiny,epochs=2"), run)
  err = capsys.readouterr().err
  assert (
    "step 0 is unusable (its checksum records (integrity/) are missing)" in err
  )
  assert "resuming from scratch" in err
  assert _without_seconds(rows) == _without_seconds(original)
  assert all(integrity.problem(run, s) is None for s in (0, 1, 2))


def test_deleted_checkpoints_are_restored_by_the_rerun(
  teacher_dir, tmp_path, capsys
):
  run = copy_run(teacher_dir, str(tmp_path / "teacher"))
  original = wd.read_metrics(run)
  for step in (0, 1):
    shutil.rmtree(os.path.join(run, "checkpoints", str(step)))
  rows = loop.run(teacher_config.get_config("tiny,epochs=2"), run)
  assert "step 0 is unusable (it is missing)" in capsys.readouterr().err
  assert checkpoint.saved_epochs(run) == [0, 1, 2]
  assert _without_seconds(rows) == _without_seconds(original)
  for step in (0, 1, 2):  # The same weights as before.
    assert (
      integrity.read_record(run, step)["content"]
      == integrity.read_record(teacher_dir, step)["content"]
    )


def test_duplicate_metric_rows_are_dropped_on_resume(teacher_dir, tmp_path):
  run = copy_run(teacher_dir, str(tmp_path / "teacher"))
  path = os.path.join(run, wd.METRICS_FILE)
  lines = open(path).read().splitlines(keepends=True)
  with open(path, "w") as fh:  # Two runs at once used to write rows twice.
    fh.writelines(lines[:2] + lines[1:2] + lines[2:] + lines[2:])
  rows = loop.run(teacher_config.get_config("tiny,epochs=2"), run)
  assert [r["epoch"] for r in rows] == [0, 1, 2]
  assert [r["epoch"] for r in wd.read_metrics(run)] == [0, 1, 2]


# --- Finite or nothing. ---
def test_blow_up_on_the_last_step_saves_nothing_of_that_epoch(tmp_path):
  run = str(tmp_path / "teacher")
  # 4 steps per epoch, 8 in all: the learning rate is multiplied by 1e30 at step 7, the last.
  config = teacher_config.get_config(
    "tiny,epochs=2,optimizer.schedule='step',"
    "optimizer.step_boundaries=(0.99,),"
    "optimizer.step_factor=1e30"
  )
  with pytest.raises(
    FloatingPointError,
    match=r"diverged at epoch 2 \(test_loss=nan.*the "
    "last checkpoint is epoch 1",
  ):
    loop.run(config, run)
  checkpoint.close_all()  # As the launcher does before it exits.
  assert checkpoint.saved_epochs(run) == [0, 1]
  rows = wd.read_metrics(run)
  assert [r["epoch"] for r in rows] == [0, 1]
  assert all(
    np.isfinite(v) for r in rows for v in r.values() if isinstance(v, float)
  )


def test_non_finite_parameters_are_refused_before_a_save():
  state = {
    "params": {"w": np.ones(3, np.float32), "b": np.array([np.inf], np.float32)}
  }
  with pytest.raises(
    FloatingPointError, match=r"1 state array\(s\) with NaN/Inf"
  ):
    health.check_finite_epoch({"train_loss": 0.1}, state, 3)
  with pytest.raises(FloatingPointError, match=r"train_ece=nan"):
    health.check_finite_epoch({"train_ece": float("nan")}, {"w": np.ones(2)}, 3)
  health.check_finite_epoch(
    {"loss": 0.5, "teacher_epoch": None}, {"w": np.ones(2)}, 1
  )


def test_teacher_at_chance_level_warns(capsys):
  assert not health.warn_if_chance_level(
    {"test_accuracy": 0.1}, 10, 1, label="[cnn]", hint="hint"
  )
  assert health.warn_if_chance_level(
    {"test_accuracy": 0.1}, 10, 2, label="[cnn]", hint="Lower lr."
  )
  assert (
    "[cnn] epoch 2 test accuracy 0.100 is at chance" in capsys.readouterr().err
  )


# --- The launchers: exit status 2, one line on stderr, no traceback, prompt exit. ---
LAUNCHER_ROWS = {  # name: (launcher arguments, expected stderr line).
  "missing_config_file": (
    ["train_teacher.py", "--config=kd_ntk/configs/nope.py:tiny"],
    "error: config file kd_ntk/configs/nope.py does not exist",
  ),
  "unknown_key": (
    ["train_teacher.py", "--config=kd_ntk/configs/teacher.py:tiny,foo=1"],
    "error: --config: Unknown config field 'foo'",
  ),
  "batch_size_0": (
    [
      "train_teacher.py",
      "--config=kd_ntk/configs/teacher.py:tiny,batch_size=0",
    ],
    "error: config: batch_size=0 must be an integer >= 1.",
  ),
  # Its error used to be followed by a 300 s wait for orbax's save thread.
  "distill_eval_batch_0": (
    [
      "distill.py",
      "--config=kd_ntk/configs/distill.py:tiny,offline,eval_batch_size=0",
    ],
    "error: config: eval_batch_size=0 must be an integer >= 1.",
  ),
  "workdir_is_a_file": (
    ["train_teacher.py", "--config=kd_ntk/configs/teacher.py:tiny"],
    "error: --workdir=",
  ),
  # It used absl's app.run: 12 lines of FATAL flags-parsing error, after training.
  "reproduce_num_examples_1": (
    [
      "reproduce.py",
      "--config=kd_ntk/configs/reproduce.py:tiny,complexity.num_examples=1",
    ],
    "error: config: complexity.num_examples=1 must be an integer >= 2.",
  ),
  "distill_temperature_inf": (
    [
      "distill.py",
      "--config=kd_ntk/configs/distill.py:tiny,offline,distill.temperature=1e999",
    ],
    "error: config: distill.temperature=inf must be a finite number.",
  ),
  "empty_workdir": (
    ["train_teacher.py", "--config=kd_ntk/configs/teacher.py:tiny"],
    "error: --workdir='' is empty",
  ),
  "workdir_busy": (
    ["train_teacher.py", "--config=kd_ntk/configs/teacher.py:tiny"],
    "error: ",  # + "<workdir> is in use by process <pid> on host ..."
  ),
}


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
  """Runs every launcher row (and one with --debug) at once: {name: (result, workdir)}."""
  base = tmp_path_factory.mktemp("launchers")
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  env.pop("XLA_FLAGS", None)
  rows = dict(
    LAUNCHER_ROWS, debug=(LAUNCHER_ROWS["workdir_is_a_file"][0], "Traceback")
  )
  procs, holder = {}, None
  for name, (args, _) in rows.items():
    workdir = "" if name == "empty_workdir" else str(base / name)
    if name in ("workdir_is_a_file", "debug"):
      with open(workdir, "w") as fh:
        fh.write("x")
    if name == "workdir_busy":
      holder = start_lock_holder(workdir)
    extra = ["--debug"] if name == "debug" else []
    procs[name] = (
      subprocess.Popen(
        [
          sys.executable,
          os.path.join(REPO, "experiments", args[0]),
          *args[1:],
          f"--workdir={workdir}",
          *extra,
        ],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
      ),
      workdir,
    )
  results = {}
  for name, (proc, workdir) in procs.items():
    out, err = proc.communicate(timeout=180)
    results[name] = (proc.returncode, out, err, workdir)
  results["workdir_busy"] += (holder.pid,)
  holder.kill()
  holder.wait()
  return results


@pytest.mark.parametrize("name", list(LAUNCHER_ROWS))
def test_launcher_exits_2_with_one_line(launched, name):
  code, _, err, workdir = launched[name][:4]
  assert code == 2, err
  lines = [line for line in err.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith(LAUNCHER_ROWS[name][1]), err
  if name == "workdir_is_a_file":
    assert lines[0].endswith("is a file, not a folder; pass a folder path.")
    assert open(workdir).read() == "x"
  elif name == "workdir_busy":
    pid = launched[name][4]
    assert f"{workdir} is in use by process {pid} on host" in lines[0]
    assert sorted(os.listdir(workdir)) == ["run.lock"]  # Nothing written.
  else:
    assert not workdir or not os.path.exists(workdir)


def test_launcher_debug_flag_shows_the_traceback(launched):
  code, _, err, workdir = launched["debug"]
  assert code == 2 and "Traceback" in err and "is a file, not a folder" in err
  assert open(workdir).read() == "x"


def test_ctrl_c_stops_a_launcher_in_one_line_with_status_130(tmp_path):
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  env.pop("XLA_FLAGS", None)
  proc = subprocess.Popen(
    [
      sys.executable,
      os.path.join(REPO, "experiments", "train_teacher.py"),
      "--config=kd_ntk/configs/teacher.py:tiny,epochs=500",
      f"--workdir={tmp_path / 'teacher'}",
    ],
    cwd=REPO,
    env=env,
    text=True,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    # A shell starting the suite in the background ignores SIGINT, and Python
    # keeps an inherited SIG_IGN: give the launcher the terminal's default.
    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
  )
  seen = []
  for line in proc.stderr:  # Wait until it trains.
    seen.append(line)
    if "epoch 1/500" in line:
      break
  proc.send_signal(signal.SIGINT)
  _, rest = proc.communicate(timeout=120)
  assert proc.returncode == 130, "".join(seen) + rest
  assert "Traceback" not in rest
  assert (
    rest.strip().splitlines()[-1].startswith("interrupted: stopped by Ctrl-C")
  )
