"""Bad teacher configs, config arguments, workdirs: one line, nothing written."""

import os

import pytest
from bad_input_table import (
  Ctx,
  assert_one_line_and_nothing_changed,
  copy_run,
  table,
)
from test_bad_complexity_and_reproduce import ROWS as COMPLEXITY_ROWS
from test_bad_students_and_teachers import ROWS as STUDENT_ROWS
from test_reliability_rows import ROWS as RELIABILITY_ROWS

from kd_ntk.configs import distill as distill_config
from kd_ntk.configs import teacher as teacher_config
from kd_ntk.train import loop
from kd_ntk.train import workdir as wd

ROWS, row = table()


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


@pytest.mark.parametrize("make_call,error,match", ROWS)
def test_bad_input_gets_one_line_and_changes_nothing(
  teacher_dir, tmp_path, monkeypatch, make_call, error, match
):
  ctx = Ctx(tmp_path, teacher_dir, monkeypatch)
  assert_one_line_and_nothing_changed(ctx, make_call, error, match)


def test_the_table_has_at_least_eighty_rows():
  assert len(ROWS + STUDENT_ROWS + COMPLEXITY_ROWS + RELIABILITY_ROWS) >= 80
