"""One run per workdir: the advisory lock (kd_ntk.train.lock)."""

import json
import os
import socket
import subprocess
import sys

import pytest

from kd_ntk.train import lock

HOLDER = """
import sys, time
from kd_ntk.train import lock
lock.acquire(sys.argv[1])
print("held", flush=True)
time.sleep(120)
"""


def _holder(workdir: str) -> subprocess.Popen:
  proc = subprocess.Popen(
    [sys.executable, "-c", HOLDER, workdir],
    stdout=subprocess.PIPE,
    text=True,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  assert proc.stdout.readline().strip() == "held"
  return proc


def test_second_process_is_refused_naming_the_owner(tmp_path):
  workdir = str(tmp_path)
  proc = _holder(workdir)
  try:
    owner = json.load(open(lock.lock_path(workdir)))
    assert owner["pid"] == proc.pid and owner["host"] == socket.gethostname()
    for attempt in (lock.acquire, lock.check_free):
      with pytest.raises(
        lock.WorkdirBusy, match=rf"is in use by process {proc.pid} on host"
      ):
        attempt(workdir)
    assert not lock.holds(workdir)
  finally:
    proc.kill()
    proc.wait()
  # The kernel dropped the dead holder's lock: the next run takes it over.
  lock.acquire(workdir)
  try:
    assert json.load(open(lock.lock_path(workdir)))["pid"] == os.getpid()
  finally:
    lock.release(workdir)


def test_stale_lock_of_a_killed_run_is_taken_over_with_a_warning(
  tmp_path, capsys
):
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  with open(lock.lock_path(str(tmp_path)), "w") as fh:
    json.dump({"pid": dead.pid, "host": socket.gethostname()}, fh)
  with lock.held(str(tmp_path)):
    assert lock.holds(str(tmp_path))
  assert "taking over the stale lock of process" in capsys.readouterr().err
  assert not lock.holds(str(tmp_path))
  assert open(lock.lock_path(str(tmp_path))).read() == ""  # Released: empty.


def test_lock_is_reentrant_within_a_process(tmp_path):
  workdir = str(tmp_path)
  with lock.held(workdir):
    lock.acquire(workdir)  # No-op: already ours.
    lock.check_free(workdir)
    with lock.held(workdir + "/"):  # The same folder, spelled differently.
      pass
    assert lock.holds(workdir)  # The inner block did not release it.
  assert not lock.holds(workdir)


def test_without_flock_the_owner_record_decides(tmp_path, monkeypatch):
  """File systems without flock: a live owner on this host is busy, a dead one
  is stale."""

  def no_flock(fd, op):
    raise OSError(lock.errno.ENOLCK, "No locks available")

  monkeypatch.setattr(lock.fcntl, "flock", no_flock)
  path = lock.lock_path(str(tmp_path))
  parent = os.getppid()
  with open(path, "w") as fh:
    json.dump({"pid": parent, "host": socket.gethostname()}, fh)
  with pytest.raises(lock.WorkdirBusy, match=f"process {parent}"):
    lock.acquire(str(tmp_path))
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  with open(path, "w") as fh:
    json.dump({"pid": dead.pid, "host": socket.gethostname()}, fh)
  with lock.held(str(tmp_path)):
    assert json.load(open(path))["pid"] == os.getpid()
