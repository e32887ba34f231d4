"""Bad-input test machinery: row tables, Ctx, snapshots, damaging a run."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kd_ntk import cli
from kd_ntk.configs import distill as distill_config
from kd_ntk.configs import teacher as teacher_config
from kd_ntk.distill import loop as distill_loop
from kd_ntk.train import integrity, loop

REPO = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def snapshot(path):
  """{relative path: sha256 (files) or "dir"} of everything under `path` (None if absent)."""
  if not os.path.exists(path):
    return None
  if os.path.isfile(path):
    return {".": integrity.file_sha256(path)}
  tree = {}
  for folder, dirs, files in os.walk(path):
    for d in dirs:
      tree[os.path.relpath(os.path.join(folder, d), path)] = "dir"
    for f in files:
      full = os.path.join(folder, f)
      tree[os.path.relpath(full, path)] = integrity.file_sha256(full)
  return tree


def copy_run(src: str, dst: str) -> str:
  shutil.copytree(src, dst)
  return dst


def largest_data_file(run: str, step: int) -> str:
  folder = os.path.join(
    run, "checkpoints", str(step), "default", "ocdbt.process_0", "d"
  )
  return max(
    (os.path.join(folder, n) for n in os.listdir(folder)), key=os.path.getsize
  )


def flip_bytes(path: str, count: int = 64, offset: int = 100) -> None:
  data = bytearray(open(path, "rb").read())
  for i in range(offset, offset + count):
    data[i] ^= 0xFF
  with open(path, "wb") as fh:
    fh.write(data)


class Ctx:
  """What a row needs: a fresh workdir path, the teacher run, a scratch folder."""

  def __init__(self, tmp_path, teacher, monkeypatch):
    self.tmp, self.teacher, self.monkeypatch = (
      str(tmp_path),
      teacher,
      monkeypatch,
    )
    self.workdir = os.path.join(self.tmp, "workdir")
    self.watched = [self.workdir, teacher]
    self.cleanups = []

  def hold_lock(self, workdir: str) -> int:
    """Another process holding `workdir`'s lock until the row ends; its pid."""
    proc = start_lock_holder(workdir)
    self.cleanups.append(proc.kill)
    return proc.pid

  def data_copy(self, name: str, images=None) -> str:
    """A copy of the session's data folder (its train images replaced by
    `images`, an (N, 28, 28) array, when given); watched."""
    folder = os.path.join(self.tmp, name)
    shutil.copytree(os.environ["KD_NTK_FASHION_MNIST_DIR"], folder)
    if images is not None:
      from kd_ntk.data import idx, read_idx

      path = os.path.join(folder, "train-images-idx3-ubyte.gz")
      count = len(read_idx(path))
      idx.write_idx(path, np.broadcast_to(images, (count, 28, 28)).copy())
    self.watched.append(folder)
    return folder

  def train(self, arg: str = "", workdir=None):
    config = teacher_config.get_config(
      "tiny,epochs=2" + (f",{arg}" if arg else "")
    )
    return lambda: loop.run(config, workdir or self.workdir)

  def distill_config(self, arg: str = "", teacher=None):
    config = distill_config.get_config(
      "tiny,offline" + (f",{arg}" if arg else "")
    )
    if "teacher_workdir" not in arg:
      config.distill.teacher_workdir = teacher or self.teacher
    return config

  def distill(self, arg: str = "", teacher=None):
    config = self.distill_config(arg, teacher)
    return lambda: distill_loop.run(config, self.workdir)

  def corrupt_teacher(self, damage):
    """A copy of the teacher with `damage(copy)` applied; the student must refuse it."""
    copy = copy_run(self.teacher, os.path.join(self.tmp, "teacher_copy"))
    damage(copy)
    self.watched.append(copy)
    return self.distill(teacher=copy)

  def read_only(self, path: str):
    """Makes `path` read-only (as root, whom permissions do not stop, os.access says so)."""
    if os.geteuid() == 0:
      real = os.access
      target = os.path.abspath(path)
      self.monkeypatch.setattr(
        os,
        "access",
        lambda p, mode, *a, **k: (
          False
          if os.path.abspath(p) == target and mode & os.W_OK
          else real(p, mode, *a, **k)
        ),
      )
    else:
      os.chmod(path, 0o555)


HOLDER = """
import fcntl, json, os, socket, sys, time
fd = os.open(os.path.join(sys.argv[1], "run.lock"), os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "started": time.time()}).encode())
print("held", flush=True)
time.sleep(120)
"""


def start_lock_holder(workdir: str) -> subprocess.Popen:
  """A process that holds `workdir`'s run lock (as a running run does)."""
  os.makedirs(workdir, exist_ok=True)
  proc = subprocess.Popen(
    [sys.executable, "-c", HOLDER, workdir], stdout=subprocess.PIPE, text=True
  )
  assert proc.stdout.readline().strip() == "held"
  return proc


def table():
  """A new table: (its rows, as pytest params; `row`, the decorator adding one).

  A row is `fn(ctx) -> bad call`; the module's parametrized test passes each
  to `assert_one_line_and_nothing_changed`.
  """
  rows = []

  def row(match, error=ValueError):
    """Registers `fn(ctx) -> bad call`, expecting `error` matching `match`."""

    def register(fn):
      name = (
        fn.__name__
        if fn.__name__ != "<lambda>"
        else "".join(
          ch if ch.isalnum() or ch in "=-_." else "_" for ch in match[:48]
        )
      )
      rows.append(pytest.param(fn, error, match, id=name))
      return fn

    return register

  return rows, row


def assert_one_line_and_nothing_changed(ctx, make_call, error, match):
  """The call raises `error` matching `match` in one line; nothing changes."""
  try:
    call = make_call(ctx)
    before = [snapshot(p) for p in ctx.watched]
    with pytest.raises(error, match=match) as caught:
      call()
    assert isinstance(
      caught.value, cli.BAD_INPUT_ERRORS
    )  # The launchers exit 2 on it.
    assert "\n" not in str(caught.value)
    assert [snapshot(p) for p in ctx.watched] == before
  finally:
    for cleanup in ctx.cleanups:
      cleanup()
