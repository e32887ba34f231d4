"""Bad inputs, hostile configs and damaged runs: each is answered by one line that
says what is wrong, before anything is written (the table), or repaired with a
warning (corrupt steps, damaged metrics), and never by a silent wrong result.

Every table row also asserts that the workdir it names, and the teacher run it
reads, are byte for byte as they were.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kd_ntk import cli
from kd_ntk.analysis import reproduce, supervision_run
from kd_ntk.configs import common
from kd_ntk.configs import complexity as complexity_config
from kd_ntk.configs import distill as distill_config
from kd_ntk.configs import reproduce as reproduce_config
from kd_ntk.configs import teacher as teacher_config
from kd_ntk.distill import loop as distill_loop
from kd_ntk.train import binding, checkpoint, health, integrity, loop, runs
from kd_ntk.train import workdir as wd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


@pytest.fixture(scope="module")
def root(tmp_path_factory):
  return str(tmp_path_factory.mktemp("bad_inputs"))


@pytest.fixture(scope="module")
def teacher_dir(root):
  path = os.path.join(root, "teacher")
  loop.run(teacher_config.get_config("tiny,epochs=2"), path)
  return path


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


ROWS = []


def row(match, error=ValueError):
  """Registers `fn(ctx) -> bad call` as a table row expecting `error` matching `match`."""

  def register(fn):
    name = (
      fn.__name__
      if fn.__name__ != "<lambda>"
      else "".join(
        ch if ch.isalnum() or ch in "=-_." else "_" for ch in match[:48]
      )
    )
    ROWS.append(pytest.param(fn, error, match, id=name))
    return fn

  return register


# --- Teacher configs: every value checked before the workdir is touched. ---
row("epochs=0 must be an integer >= 1")(lambda c: c.train("epochs=0"))
row("epochs=-3 must be an integer >= 1")(lambda c: c.train("epochs=-3"))
row("train_subset=-5 must be an integer >= 0")(
  lambda c: c.train("train_subset=-5")
)
row("test_subset=-1 must be an integer >= 0")(
  lambda c: c.train("test_subset=-1")
)
row(r"optimizer.learning_rate=-0.1 must be > 0")(
  lambda c: c.train("optimizer.learning_rate=-0.1")
)
row(r"label_smoothing=2.0 must lie in \[0, 1\)")(
  lambda c: c.train("label_smoothing=2")
)
row(r"optimizer.momentum=5.0 must lie in \[0, 1\)")(
  lambda c: c.train("optimizer.momentum=5")
)
row("batch_size=0 must be an integer >= 1")(lambda c: c.train("batch_size=0"))
row("batch_size=-32 must be an integer >= 1")(
  lambda c: c.train("batch_size=-32")
)
row("eval_batch_size=0 must be an integer >= 1")(
  lambda c: c.train("eval_batch_size=0")
)
row("seed=-1 must be an integer >= 0")(lambda c: c.train("seed=-1"))
row(
  r"optimizer.schedule='bogus' must be one of \['cosine', 'step', 'constant'\]"
)(lambda c: c.train("optimizer.schedule='bogus'"))
row("model_kwargs.width=-4 must be positive")(
  lambda c: c.train("model_kwargs.width=-4")
)
row("train_subset=70000 exceeds the 60000 train examples")(
  lambda c: c.train("train_subset=70000")
)
row("test_subset=20000 exceeds the 10000 test examples")(
  lambda c: c.train("test_subset=20000")
)
row("train_subset=20000 exceeds the 12000 train examples")(
  lambda c: c.train("classes=(0,6),train_subset=20000")
)
row("classes=.0, 0. must be >= 2 distinct class indices in 0..9")(
  lambda c: c.train("classes=(0,0)")
)
row("classes=.3, 12. must be >= 2 distinct")(
  lambda c: c.train("classes=(3,12)")
)
row("batch_size=30 must be divisible by the 4 devices")(
  lambda c: c.train("batch_size=30")
)
row("Unknown model 'nope'")(lambda c: c.train("model='nope'"))
row("has no option.*depthh")(lambda c: c.train("model_kwargs.depthh=2"))
row("optimizer.weight_decay=-1.0 must be >= 0")(
  lambda c: c.train("optimizer.weight_decay=-1.0")
)
row("optimizer.step_factor=0.0 must be > 0")(
  lambda c: c.train("optimizer.schedule='step',optimizer.step_factor=0.0")
)
row("augment.pad=-1 must be an integer >= 0")(
  lambda c: c.train("augment.pad=-1")
)
row("subset_seed=-2 must be an integer >= 0")(
  lambda c: c.train("subset_seed=-2")
)
row("optimizer.warmup_epochs=-1.0 must be >= 0")(
  lambda c: c.train("optimizer.warmup_epochs=-1.0")
)
row("epochs=0 .*; batch_size=0 .*; seed=-1")(
  lambda c: c.train("epochs=0,batch_size=0,seed=-1")
)


@row("optimizer.learning_rate=nan must be > 0")
def nan_learning_rate(ctx):
  config = teacher_config.get_config("tiny")
  config.optimizer.learning_rate = float("nan")
  return lambda: loop.run(config, ctx.workdir)


# --- Config arguments: one line, no KeyError quoting. ---
row("Unknown config field 'foo'; known fields here: augment")(
  lambda c: lambda: teacher_config.get_config("tiny,foo=1")
)
row("Unknown config field 'optimizer.lr'; known fields here: learning_rate")(
  lambda c: lambda: teacher_config.get_config("tiny,optimizer.lr=0.1")
)
row("Malformed override '=3'")(
  lambda c: lambda: teacher_config.get_config("tiny,=3")
)
row("Malformed override 'epochs='")(
  lambda c: lambda: teacher_config.get_config("tiny,epochs=")
)
row("Malformed config argument 'a b'")(
  lambda c: lambda: teacher_config.get_config("a b")
)
row("epochs='abc' has the wrong type: expected int")(
  lambda c: lambda: teacher_config.get_config("tiny,epochs=abc")
)
row("optimizer=3 has the wrong type: expected a block")(
  lambda c: lambda: teacher_config.get_config("tiny,optimizer=3")
)
row("'seed' is a value, not a block")(
  lambda c: lambda: teacher_config.get_config("tiny,seed.x=1")
)
row(r"unknown variant\(s\) \['bogus'\]")(
  lambda c: lambda: teacher_config.get_config("bogus")
)
row("choose at most one mode variant")(
  lambda c: lambda: distill_config.get_config("online,offline")
)


# --- Workdirs. ---
@row("is a file, not a folder")
def workdir_is_a_file(ctx):
  with open(ctx.workdir, "w") as fh:
    fh.write("not a folder")
  return ctx.train()


@row("cannot be created: .* is a file")
def workdir_below_a_file(ctx):
  with open(ctx.workdir, "w") as fh:
    fh.write("not a folder")
  return ctx.train(workdir=os.path.join(ctx.workdir, "run"))


@row("is not writable")
def read_only_new_workdir(ctx):
  os.makedirs(ctx.workdir)
  ctx.read_only(ctx.workdir)
  return ctx.train()


@row("is not writable")
def read_only_resume(ctx):
  copy_run(ctx.teacher, ctx.workdir)
  ctx.read_only(ctx.workdir)
  return ctx.train()


@row("different config .*epochs.*Use a new --workdir")
def workdir_of_another_config(ctx):
  copy_run(ctx.teacher, ctx.workdir)
  return ctx.train("epochs=3")


@row("config.json is damaged")
def damaged_config_json(ctx):
  copy_run(ctx.teacher, ctx.workdir)
  with open(os.path.join(ctx.workdir, "config.json"), "w") as fh:
    fh.write('{"epochs": 2, "ba')
  return ctx.train()


@row(r"metrics.jsonl line 3 is damaged .*repair it from the checkpoints")
def damaged_metrics_read(ctx):
  copy_run(ctx.teacher, ctx.workdir)
  with open(os.path.join(ctx.workdir, wd.METRICS_FILE), "r+") as fh:
    lines = fh.readlines()
    fh.seek(0)
    fh.writelines(lines[:2] + ["garbage\n"])
    fh.truncate()
  return lambda: wd.read_metrics(ctx.workdir)


# --- Students: refused before their workdir is claimed. ---
row("eval_batch_size=0 must be an integer >= 1")(
  lambda c: c.distill("eval_batch_size=0")
)
row("epochs=0 must be an integer >= 1")(lambda c: c.distill("epochs=0"))
row(r"distill.alpha must lie in \[0, 1\]")(
  lambda c: c.distill("distill.alpha=2.0")
)
row("Teacher run /nonexistent does not exist", FileNotFoundError)(
  lambda c: c.distill("distill.teacher_workdir='/nonexistent'")
)
row("trained on other data .*train_subset")(
  lambda c: c.distill("train_subset=96")
)
row(r"distill.teacher.optimizer.momentum=5.0 must lie in \[0, 1\)")(
  lambda c: (
    lambda: distill_loop.run(
      distill_config.get_config(
        "tiny,lockstep,distill.teacher.optimizer.momentum=5.0"
      ),
      c.workdir,
    )
  )
)


@row(
  r"Teacher unusable: .*checkpoint step 2 is corrupt \(file default/ocdbt.process_0/d/\w+ "
  r"differs from its checksum\)",
  integrity.CorruptCheckpointError,
)
def corrupt_teacher_flipped_bytes(ctx):
  return ctx.corrupt_teacher(lambda t: flip_bytes(largest_data_file(t, 2)))


@row(
  r"Teacher unusable: .*checkpoint step 1 is corrupt \(file .* bytes, \d+ when saved\)",
  integrity.CorruptCheckpointError,
)
def truncated_teacher_checkpoint(ctx):
  def truncate(t):
    path = largest_data_file(t, 1)
    with open(path, "r+b") as fh:
      fh.truncate(os.path.getsize(path) // 2)

  return ctx.corrupt_teacher(truncate)


@row(
  r"checkpoint step 2 is corrupt \(file default/\S+ is missing\)",
  integrity.CorruptCheckpointError,
)
def teacher_default_folder_deleted(ctx):
  return ctx.corrupt_teacher(
    lambda t: shutil.rmtree(os.path.join(t, "checkpoints", "2", "default"))
  )


@row(
  r"checkpoint step 1 is corrupt \(file \S+ is missing\)",
  integrity.CorruptCheckpointError,
)
def teacher_step_emptied(ctx):
  def empty(t):
    step = os.path.join(t, "checkpoints", "1")
    shutil.rmtree(step)
    os.makedirs(step)

  return ctx.corrupt_teacher(empty)


@row(
  r"checkpoint step 0 is corrupt \(it has no checksum record",
  integrity.CorruptCheckpointError,
)
def teacher_checksum_record_deleted(ctx):
  return ctx.corrupt_teacher(
    lambda t: os.remove(os.path.join(t, "integrity", "0.json"))
  )


@row(
  r"checkpoint step 0 is corrupt \(it was written under another config.json\)",
  integrity.CorruptCheckpointError,
)
def teacher_config_edited_after_training(ctx):
  def edit(t):
    path = os.path.join(t, "config.json")
    config = json.load(open(path))
    config["label_smoothing"] = 0.1
    json.dump(config, open(path, "w"))

  return ctx.corrupt_teacher(edit)


# --- Complexity and reproduction runs. ---
def _complexity(ctx, **fields):
  config = complexity_config.get_config("tiny")
  config.teacher_workdir = ctx.teacher
  for key, value in fields.items():
    config[key] = value
  return lambda: supervision_run.run(config, ctx.workdir)


@row(
  r"student run .* was trained on other data or classes than the teacher run .*classes: "
  r"student \(\) vs teacher \(0, 6\)"
)
def complexity_student_of_other_classes(ctx):
  binary = os.path.join(ctx.tmp, "binary_teacher")
  os.makedirs(binary)
  wd.claim(binary, teacher_config.get_config("tiny,classes=(0,6)"))
  ctx.watched.append(binary)
  return _complexity(ctx, teacher_workdir=binary, student_workdir=ctx.teacher)


row(r"temperatures=\(0.0,\) must be positive numbers")(
  lambda c: _complexity(c, temperatures=(0.0,))
)
row(r"ridge=-1.0 must be > 0; solver='lu' must be one of")(
  lambda c: _complexity(c, ridge=-1.0, solver="lu")
)
row("num_examples=1 must be an integer >= 2")(
  lambda c: _complexity(c, num_examples=1)
)


@row("is not writable")
def complexity_read_only_workdir(ctx):
  os.makedirs(ctx.workdir)
  ctx.read_only(ctx.workdir)
  return _complexity(ctx)


row(r"seeds=\(-1,\) must be one or more integers >= 0")(
  lambda c: (
    lambda: reproduce.run(
      reproduce_config.get_config("tiny,seeds=(-1,)"), c.workdir
    )
  )
)
row(r"student cnn-w2, method .+: config: epochs=0 must be")(
  lambda c: (
    lambda: reproduce.run(
      reproduce_config.get_config("tiny,students_run.epochs=0"), c.workdir
    )
  )
)
row("two-class teacher: config: train_subset=100000 exceeds the 12000")(
  lambda c: (
    lambda: reproduce.run(
      reproduce_config.get_config("tiny,binary.train_subset=100000"), c.workdir
    )
  )
)
row("teacher.batch_size=0|batch_size=0 must be")(
  lambda c: (
    lambda: reproduce.run(
      reproduce_config.get_config("tiny,teacher.batch_size=0"), c.workdir
    )
  )
)


@pytest.mark.parametrize("make_call,error,match", ROWS)
def test_bad_input_gets_one_line_and_changes_nothing(
  teacher_dir, tmp_path, monkeypatch, make_call, error, match
):
  ctx = Ctx(tmp_path, teacher_dir, monkeypatch)
  call = make_call(ctx)
  before = [snapshot(p) for p in ctx.watched]
  with pytest.raises(error, match=match) as caught:
    call()
  assert isinstance(
    caught.value, cli.BAD_INPUT_ERRORS
  )  # The launchers exit 2 on it.
  assert "\n" not in str(caught.value)
  assert [snapshot(p) for p in ctx.watched] == before


def test_the_table_has_at_least_forty_rows():
  assert len(ROWS) >= 40


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


def test_run_from_before_checksums_is_adopted(teacher_dir, tmp_path, capsys):
  run = copy_run(teacher_dir, str(tmp_path / "teacher"))
  shutil.rmtree(os.path.join(run, "integrity"))
  runs.restore_variables(run, 2)  # Readers accept a legacy run unverified.
  loop.run(teacher_config.get_config("tiny,epochs=2"), run)
  assert "predate checksums" in capsys.readouterr().err
  assert all(integrity.problem(run, s) is None for s in (0, 1, 2))


# --- A student is bound to its teacher. ---
def test_student_refuses_a_teacher_retrained_at_the_same_path(
  teacher_dir, tmp_path
):
  teacher = copy_run(teacher_dir, str(tmp_path / "teacher"))
  student = str(tmp_path / "student")
  config = distill_config.get_config("tiny,offline,epochs=1")
  config.distill.teacher_workdir = teacher
  rows = distill_loop.run(config, student)
  assert json.load(open(os.path.join(student, binding.BINDING_FILE)))[
    "steps"
  ].keys() == {"0", "1", "2"}
  assert (
    distill_loop.run(config, student)[-1] == rows[-1]
  )  # Same teacher: resumes.
  shutil.rmtree(teacher)  # "Delete it and retrain", with another seed.
  loop.run(teacher_config.get_config("tiny,epochs=2,seed=1"), teacher)
  before = snapshot(student)
  with pytest.raises(
    ValueError,
    match=r"teacher .* has changed since \(its config differs "
    r"in \['seed'\]; checkpoints \[0, 1, 2\] were rewritten\).*new --workdir",
  ):
    distill_loop.run(config, student)
  assert snapshot(student) == before


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
    {"test_accuracy": 0.1}, 10, 1, "[cnn]", "hint"
  )
  assert health.warn_if_chance_level(
    {"test_accuracy": 0.1}, 10, 2, "[cnn]", "Lower lr."
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
  procs = {}
  for name, (args, _) in rows.items():
    workdir = str(base / name)
    if name in ("workdir_is_a_file", "debug"):
      with open(workdir, "w") as fh:
        fh.write("x")
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
  return results


@pytest.mark.parametrize("name", list(LAUNCHER_ROWS))
def test_launcher_exits_2_with_one_line(launched, name):
  code, _, err, workdir = launched[name]
  assert code == 2, err
  lines = [line for line in err.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith(LAUNCHER_ROWS[name][1]), err
  if name == "workdir_is_a_file":
    assert lines[0].endswith("is a file, not a folder; pass a folder path.")
    assert open(workdir).read() == "x"
  else:
    assert not os.path.exists(workdir)


def test_launcher_debug_flag_shows_the_traceback(launched):
  code, _, err, workdir = launched["debug"]
  assert code == 1 and "Traceback" in err and "is a file, not a folder" in err
  assert open(workdir).read() == "x"
