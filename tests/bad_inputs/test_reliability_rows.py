"""The second reliability round (issue 29): every misbehaving case is a row.

Each row is refused in one line naming its cause, and leaves the workdir, the
teacher and any data copy exactly as they were. The cases a run should survive
(an identical teacher rebuild, a teacher path spelled differently, a full disk)
are the tests after the table.
"""

import json
import os
import shutil

import numpy as np
import pytest
from bad_input_table import (
  Ctx,
  assert_one_line_and_nothing_changed,
  copy_run,
  flip_bytes,
  largest_data_file,
  table,
)

from kd_ntk.experiment import reproduce, supervision_run
from kd_ntk.configs import complexity as complexity_config
from kd_ntk.configs import reproduce as reproduce_config
from kd_ntk.configs import teacher as teacher_config
from kd_ntk.train import integrity, lock, loop

ROWS, row = table()
CORRUPT = integrity.CorruptCheckpointError


# --- Integrity fails closed: a teacher without or with damaged records. ---
def _integrity_gone(t):
  shutil.rmtree(os.path.join(t, "integrity"))


def _flipped_and_integrity_gone(t):
  flip_bytes(largest_data_file(t, 2), count=256)
  _integrity_gone(t)


def _record_emptied(t):
  with open(os.path.join(t, "integrity", "1.json"), "w") as fh:
    json.dump({"step": 1, "files": {}}, fh)


def _extra_file(t):
  with open(os.path.join(t, "checkpoints", "1", "extra.bin"), "wb") as fh:
    fh.write(b"\0" * 64)


def _early_checkpoints_deleted(t):
  for step in (0, 1):
    shutil.rmtree(os.path.join(t, "checkpoints", str(step)))


for damage, match in (
  (_integrity_gone, r"step 0 is corrupt \(its checksum records \(integrity/\)"),
  (_flipped_and_integrity_gone, r"step 0 is corrupt \(its checksum records"),
  (_record_emptied, r"step 1 is corrupt \(its checksum record \S+ is damaged"),
  (_extra_file, r"step 1 is corrupt \(file extra.bin was not there when"),
  (
    _early_checkpoints_deleted,
    r"lacks checkpoint step\(s\) 0-1 of 0..2 .*Rerun the teacher's own",
  ),
):

  def corrupt(ctx, damage=damage):
    return ctx.corrupt_teacher(damage)

  corrupt.__name__ = f"teacher{damage.__name__}"
  row(f"Teacher unusable: .*{match}", CORRUPT)(corrupt)


# --- One run per workdir: a second process is refused, naming the first. ---
@row(r"workdir is in use by process \d+ on host .*wait for that run")
def teacher_workdir_busy(ctx):
  copy_run(ctx.teacher, ctx.workdir)
  ctx.hold_lock(ctx.workdir)
  return ctx.train()


@row(r"workdir is in use by process \d+ on host")
def student_workdir_busy(ctx):
  ctx.hold_lock(ctx.workdir)
  return ctx.distill()


# --- Values that cannot work, refused before any work. ---
row(r"distill.temperature=inf must be a finite number")(
  lambda c: c.distill("distill.temperature=1e999")
)
row(r"distill.temperature_start=-inf must be a finite number")(
  lambda c: c.distill("distill.temperature_start=-1e999")
)


def _reproduce(arg):
  return lambda ctx: (
    lambda: reproduce.run(reproduce_config.get_config(arg), ctx.workdir)
  )


row("complexity.num_examples=1 must be an integer >= 2")(
  _reproduce("tiny,complexity.num_examples=1")
)
row("complexity.num_examples=5 is below the teacher's 10 classes")(
  _reproduce("tiny,complexity.num_examples=5")
)
row(r"complexity.num_examples=100000 exceeds the \d+ training examples")(
  _reproduce("tiny,complexity.num_examples=100000")
)
row(r"complexity.temperatures=\(inf,\) must be positive numbers")(
  _reproduce("tiny,complexity.temperatures=(1e999,)")
)
row("complexity.gamma=-1.0 must be > 0")(
  _reproduce("tiny,complexity.gamma=-1.0")
)


def _complexity(num_examples):
  def make(ctx):
    config = complexity_config.get_config("tiny")
    config.teacher_workdir = ctx.teacher
    config.num_examples = num_examples
    return lambda: supervision_run.run(config, ctx.workdir)

  make.__name__ = f"complexity_num_examples_{num_examples}"
  return make


row("num_examples=5 is below the teacher's 10 classes")(_complexity(5))
row("num_examples=129 exceeds the 128 training examples")(_complexity(129))


# --- Paths: empty, dangling symlinks. ---
@row("--workdir='' is empty; pass the run's folder")
def empty_workdir(ctx):
  config = teacher_config.get_config("tiny,epochs=2")
  return lambda: loop.run(config, "")


@row(r"--workdir=\S+ is a symlink to \S+missing, which does not exist")
def workdir_symlink_to_nothing(ctx):
  os.symlink(os.path.join(ctx.tmp, "missing"), ctx.workdir)
  return ctx.train()


# --- Data: the copy a run was trained on, and input that cannot train. ---
@row(
  r"The teacher \S+ was trained on the data in \S+ \(idx\); this student would read \S+copy"
)
def student_on_another_data_copy(ctx):
  return ctx.distill(f"data_dir='{ctx.data_copy('copy')}'")


@row(
  r"workdir was trained on the data in \S+ \(idx\); this command reads \S+copy"
)
def resume_on_another_data_copy(ctx):
  copy_run(ctx.teacher, ctx.workdir)
  return ctx.train(f"data_dir='{ctx.data_copy('copy')}'")


@row(r"student run \S+ was trained on the data in \S+copy \(idx\), the teacher")
def complexity_student_on_another_data_copy(ctx):
  student = copy_run(ctx.teacher, os.path.join(ctx.tmp, "student"))
  where = os.path.join(student, "data.json")
  record = json.load(open(where))
  record["location"] = ctx.data_copy("copy")
  json.dump(record, open(where, "w"))
  ctx.watched.append(student)
  config = complexity_config.get_config("tiny")
  config.teacher_workdir, config.student_workdir = ctx.teacher, student
  return lambda: supervision_run.run(config, ctx.workdir)


@row(
  r"train-images-idx3-ubyte.gz: every pixel of all \d+ images equals 0 \(constant input"
)
def all_zero_images(ctx):
  blank = ctx.data_copy("blank", np.zeros((28, 28), np.uint8))
  return ctx.train(f"data_dir='{blank}'")


@row(r"train-images-idx3-ubyte.gz: \d+ pixel value\(s\) are NaN or infinite")
def non_finite_images(ctx):
  pixels = np.random.default_rng(0).uniform(0, 255, (28, 28)).astype(np.float32)
  pixels[3, 5] = np.nan
  return ctx.train(f"data_dir='{ctx.data_copy('nan', pixels)}'")


@pytest.mark.parametrize("make_call,error,match", ROWS)
def test_bad_input_gets_one_line_and_changes_nothing(
  teacher_dir, tmp_path, monkeypatch, make_call, error, match
):
  ctx = Ctx(tmp_path, teacher_dir, monkeypatch)
  assert_one_line_and_nothing_changed(ctx, make_call, error, match)
