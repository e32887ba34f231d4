"""Cases of issue 29 that a run must survive, not refuse: an identical teacher
rebuild keeps its students, a teacher path spelled differently is the same
teacher, a full disk leaves no empty record and the rerun simply runs."""

import errno
import json
import os

import pytest
from bad_input_table import copy_run, flip_bytes, largest_data_file

from kd_ntk import cli
from kd_ntk.configs import distill as distill_config
from kd_ntk.configs import teacher as teacher_config
from kd_ntk.distill import loop as distill_loop
from kd_ntk.train import binding, checkpoint, integrity, loop
from kd_ntk.train import workdir as wd


def _student(teacher: str, student: str):
  config = distill_config.get_config("tiny,offline,epochs=1")
  config.distill.teacher_workdir = teacher
  return distill_loop.run(config, student)


def test_teacher_rebuilt_after_corruption_keeps_its_students(
  teacher_dir, tmp_path
):
  """The documented repair: the student names the corrupt teacher step, the
  teacher's own rerun rebuilds it bit-identically, the student then resumes."""
  teacher = copy_run(teacher_dir, str(tmp_path / "teacher"))
  student = str(tmp_path / "student")
  rows = _student(teacher, student)
  flip_bytes(largest_data_file(teacher, 2))
  with pytest.raises(
    integrity.CorruptCheckpointError, match="Teacher unusable: .*step 2"
  ):
    _student(teacher, student)
  loop.run(teacher_config.get_config("tiny,epochs=2"), teacher)  # Rebuilds 2.
  assert integrity.problem(teacher, 2) is None
  stored = json.load(open(os.path.join(student, binding.BINDING_FILE)))
  rebuilt = integrity.read_record(teacher, 2)
  # Its files differ (orbax's metadata holds nanosecond timestamps): a binding
  # on file bytes refused this rebuild; its weights are the same.
  assert stored["steps"]["2"] != integrity.digest(rebuilt["files"])
  assert stored["weights"]["2"] == rebuilt["content"]
  assert _student(teacher, student) == rows  # Accepted: the same weights.


def test_teacher_path_spelled_differently_is_the_same_teacher(
  teacher_dir, tmp_path
):
  link = str(tmp_path / "teacher_link")
  os.symlink(teacher_dir, link)
  student = str(tmp_path / "student")
  config = distill_config.get_config("tiny,offline,epochs=1")
  config.distill.teacher_workdir = link
  rows = distill_loop.run(config, student)
  for spelling in (link + "/", teacher_dir, os.path.realpath(link) + "/"):
    config.distill.teacher_workdir = spelling
    assert distill_loop.run(config, student) == rows  # Finished: not refused.


def test_full_disk_leaves_no_empty_config_and_the_rerun_runs(
  tmp_path, monkeypatch, capsys
):
  run = str(tmp_path / "teacher")
  config = teacher_config.get_config("tiny,epochs=1")

  def full(fd):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(os, "fsync", full)
  with pytest.raises(OSError, match="No space left"):
    loop.run(config, run)
  assert not os.path.exists(os.path.join(run, wd.CONFIG_FILE))
  assert [n for n in os.listdir(run) if ".tmp" in n] == []
  monkeypatch.undo()
  rows = loop.run(config, run)  # Space freed: the same command simply runs.
  assert [r["epoch"] for r in rows] == [0, 1]
  # An empty config.json left by an older version's crash is written again.
  other = str(tmp_path / "other")
  os.makedirs(other)
  open(os.path.join(other, wd.CONFIG_FILE), "w").close()
  loop.run(config, other)
  assert "config.json is empty" in capsys.readouterr().err
  assert json.load(open(os.path.join(other, wd.CONFIG_FILE)))["epochs"] == 1


def test_full_disk_ends_the_launcher_in_one_line(capsys):
  def write():
    raise OSError(
      errno.ENOSPC, "No space left on device", "/runs/t/config.json"
    )

  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(write)
  assert exit_info.value.code == cli.EXIT_BAD_INPUT
  assert capsys.readouterr().err == (
    "error: no space left on device (writing /runs/t/config.json): free "
    "space and rerun the same command; it resumes from the last complete "
    "checkpoint.\n"
  )


def test_ctrl_c_and_debug_keep_their_exit_status(capsys, monkeypatch):
  def interrupted():
    raise KeyboardInterrupt

  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(interrupted)
  assert exit_info.value.code == cli.EXIT_INTERRUPTED == 130
  err = capsys.readouterr().err
  assert err.startswith("interrupted: ") and "Traceback" not in err
  monkeypatch.setattr(cli, "debugging", lambda argv=None: True)
  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(lambda: int("x"))
  assert exit_info.value.code == cli.EXIT_BAD_INPUT
  err = capsys.readouterr().err
  assert "Traceback" in err and err.splitlines()[-1].startswith("error: ")


def test_binding_records_the_teachers_weights(teacher_dir, tmp_path):
  student = str(tmp_path / "student")
  _student(teacher_dir, student)
  stored = json.load(open(os.path.join(student, binding.BINDING_FILE)))
  assert stored["weights"] == {
    str(s): integrity.read_record(teacher_dir, s)["content"]
    for s in checkpoint.saved_epochs(teacher_dir)
  }
  assert len(set(stored["weights"].values())) == 3  # Three different epochs.
  # A record written before content digests is bound by the restored weights:
  # the same digest as the one taken from the state at save time.
  assert binding._restored_digest(teacher_dir, 2) == stored["weights"]["2"]
