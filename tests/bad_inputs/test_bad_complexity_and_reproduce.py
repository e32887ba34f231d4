"""Bad complexity and reproduction configs: one line, nothing written."""

import os

import pytest
from bad_input_table import Ctx, assert_one_line_and_nothing_changed, table

from kd_ntk.experiment import reproduce, supervision_run
from kd_ntk.configs import complexity as complexity_config
from kd_ntk.configs import reproduce as reproduce_config
from kd_ntk.configs import teacher as teacher_config
from kd_ntk.train import workdir as wd

ROWS, row = table()


def _complexity(ctx, **fields):
  config = complexity_config.get_config("tiny")
  config.teacher_workdir = ctx.teacher
  for key, value in fields.items():
    config[key] = value
  return lambda: supervision_run.run(config, ctx.workdir)


def _reproduce(arg):
  """A row's call: `reproduce.run` on the reproduce config `arg`."""
  return lambda ctx: (
    lambda: reproduce.run(reproduce_config.get_config(arg), ctx.workdir)
  )


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
  _reproduce("tiny,seeds=(-1,)")
)
row(r"student cnn-w2, method .+: config: epochs=0 must be")(
  _reproduce("tiny,students_run.epochs=0")
)
row("two-class teacher: config: train_subset=100000 exceeds the 12000")(
  _reproduce("tiny,binary.train_subset=100000")
)
row(r"complexity.student_width=3: the claims family 'cnn' has widths \[2\]")(
  _reproduce("tiny,complexity.student_width=3")
)
row("teacher.batch_size=0|batch_size=0 must be")(
  _reproduce("tiny,teacher.batch_size=0")
)


@pytest.mark.parametrize("make_call,error,match", ROWS)
def test_bad_input_gets_one_line_and_changes_nothing(
  teacher_dir, tmp_path, monkeypatch, make_call, error, match
):
  ctx = Ctx(tmp_path, teacher_dir, monkeypatch)
  assert_one_line_and_nothing_changed(ctx, make_call, error, match)
