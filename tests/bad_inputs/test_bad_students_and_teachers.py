"""Bad student configs, damaged or swapped teachers: refused, nothing written."""

import json
import os
import shutil

import pytest
from bad_input_table import (
  Ctx,
  assert_one_line_and_nothing_changed,
  copy_run,
  flip_bytes,
  largest_data_file,
  snapshot,
  table,
)

from kd_ntk.configs import distill as distill_config
from kd_ntk.configs import teacher as teacher_config
from kd_ntk.distill import loop as distill_loop
from kd_ntk.train import binding, integrity, loop

ROWS, row = table()


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


@pytest.mark.parametrize("make_call,error,match", ROWS)
def test_bad_input_gets_one_line_and_changes_nothing(
  teacher_dir, tmp_path, monkeypatch, make_call, error, match
):
  ctx = Ctx(tmp_path, teacher_dir, monkeypatch)
  assert_one_line_and_nothing_changed(ctx, make_call, error, match)


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
    r"in \['seed'\]; checkpoints \[0, 1, 2\] were rewritten with other "
    r"weights\).*new --workdir",
  ):
    distill_loop.run(config, student)
  assert snapshot(student) == before
