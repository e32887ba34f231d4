"""Students refused before any wrong work; how teacher checkpoints are read."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from kd_ntk.configs import (
  common,
  distill as distill_config,
  teacher as teacher_config,
)
from kd_ntk.data import data_mesh
from kd_ntk.distill import loop
from kd_ntk.distill.steps import jit_distill_step, scalar
from kd_ntk.train import (
  checkpoint,
  loop as train_loop,
  runs as run_reading,
  workdir as wd,
)
from kd_ntk.train.state import create_state, make_optimizer, replicate


def _config(teacher_dir, arg=""):
  config = distill_config.get_config(f"tiny,{arg}" if arg else "tiny")
  config.distill.teacher_workdir = teacher_dir
  return config


def test_divergence_stops_with_an_error_and_no_result(root, teacher_dir):
  workdir = os.path.join(root, "diverged")
  config = _config(teacher_dir, "offline,optimizer.learning_rate=1e30")
  with pytest.raises(FloatingPointError, match="diverged at epoch 1"):
    loop.run(config, workdir)
  assert [r["epoch"] for r in wd.read_metrics(workdir)] == [0]
  with open(os.path.join(workdir, "diverged.json")) as fh:
    assert json.load(fh)["epoch"] == 1


def _teacher_copy(root, teacher_dir, name, drop_epoch):
  copy = os.path.join(root, name)
  if not os.path.exists(copy):
    shutil.copytree(teacher_dir, copy)
    shutil.rmtree(os.path.join(copy, "checkpoints", str(drop_epoch)))
  return copy


BAD = [
  (
    "online,distill.teacher_workdir='/nonexistent/teacher'",
    FileNotFoundError,
    "does not exist",
  ),
  ("online,train_subset=96", ValueError, "train_subset"),
  ("distill.mode='bogus'", ValueError, "distill.mode"),
  ("early,distill.early_epoch=5", ValueError, "outside"),
  ("anchors", ValueError, "outside", {"distill.anchor_epochs": (1, 7)}),
  ("offline,distill.granularity='step_blend'", ValueError, "granularity"),
  ("online,distill.alpha=1.5", ValueError, "alpha"),
  ("online,distill.temperature=0.0", ValueError, "Temperatures"),
  (
    "lockstep,distill.granularity='step',distill.teacher.batch_size=64",
    ValueError,
    "batch_size",
  ),
  ("lockstep,distill.granularity='step_blend'", ValueError, "granularity"),
]


@pytest.mark.parametrize(
  "arg,error,match,overrides", [b + ({},) * (4 - len(b)) for b in BAD]
)
def test_bad_config_fails_before_any_work(
  root, teacher_dir, arg, error, match, overrides
):
  workdir = os.path.join(root, "never_created")
  config = common.apply_overrides(
    distill_config.get_config(f"tiny,{arg}"), overrides
  )
  if "teacher_workdir" not in arg:
    config.distill.teacher_workdir = teacher_dir
  with pytest.raises(error, match=match):
    loop.run(config, workdir)
  assert not os.path.exists(workdir)


@pytest.mark.parametrize(
  "variant,drop,match",
  [
    ("online", 1, r"lacks checkpoint\(s\) \[1\]"),
    ("offline", 2, "has not finished"),
  ],
)
def test_missing_teacher_checkpoints_fail_before_any_work(
  root, teacher_dir, variant, drop, match
):
  copy = _teacher_copy(root, teacher_dir, f"teacher_without_{drop}", drop)
  workdir = os.path.join(root, "never_created")
  with pytest.raises(FileNotFoundError, match=match):
    loop.run(_config(copy, variant), workdir)
  assert not os.path.exists(workdir)


def test_restore_variables_reads_only_the_forward_variables(teacher_dir):
  config, model = run_reading.load_run(teacher_dir)
  mesh = data_mesh()
  variables = run_reading.restore_variables(teacher_dir, 1)
  assert set(variables) == {"params"}  # An MLP: no BatchNorm statistics.
  tx = make_optimizer(config.optimizer, 4, config.epochs)
  abstract = checkpoint.abstract_replicated(
    jax.eval_shape(
      lambda: create_state(model, tx, jax.random.PRNGKey(0), (28, 28, 1))
    ),
    mesh,
  )
  mngr = checkpoint.manager(teacher_dir, create=False)
  full = checkpoint.restore(mngr, 1, abstract)
  mngr.close()
  for a, b in zip(
    jax.tree_util.tree_leaves(full.params),
    jax.tree_util.tree_leaves(variables["params"]),
  ):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(FileNotFoundError, match="no checkpoint for epoch 7"):
    run_reading.restore_variables(teacher_dir, 7)


def test_swapping_teacher_checkpoints_does_not_recompile(teacher_dir):
  config, model = run_reading.load_run(teacher_dir)
  mesh = data_mesh()
  tx = make_optimizer(config.optimizer, 4, 2)
  step = jit_distill_step(model=model, teacher_model=model, tx=tx)
  images = (
    np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype(np.float32)
  )
  labels = np.arange(8, dtype=np.int32) % 10
  kd = []
  for epoch, tau, alpha in [
    (0, 1.0, 0.0),
    (1, 4.0, 0.0),
    (2, 2.0, 0.5),
    (1, 4.0, 0.0),
  ]:
    teacher = run_reading.restore_variables(teacher_dir, epoch)
    fresh = replicate(
      create_state(model, tx, jax.random.PRNGKey(0), (28, 28, 1)), mesh
    )
    _, out = step(
      fresh,
      images,
      labels,
      jax.random.PRNGKey(1),
      (teacher,),
      np.ones(1, np.float32),
      scalar(tau),
      scalar(alpha),
    )
    kd.append(float(out["kd"]))
  assert step._cache_size() == 1
  assert (
    len({round(v, 6) for v in kd[:3]}) == 3
  )  # Each teacher was really used...
  assert kd[3] == pytest.approx(
    kd[1]
  )  # ...and swapping back gives the same targets.


def test_binary_task_teacher_and_student(root):
  """A two-class selection (claim C8): the class count follows `classes`, not the dataset."""
  teacher = teacher_config.get_config("tiny")
  teacher.classes = (0, 6)
  teacher_dir = os.path.join(root, "binary_teacher")
  train_loop.run(teacher, teacher_dir)
  assert run_reading.load_run(teacher_dir)[1].num_classes == 2
  config = _config(teacher_dir, "offline,epochs=1")
  config.classes = (0, 6)
  rows = loop.run(config, os.path.join(root, "binary_student"))
  assert (
    np.isfinite(rows[-1]["test_fidelity_final"])
    and rows[-1]["teacher_epoch"] == 1
  )
  config.classes = (
    0,
    5,
  )  # Other classes than the teacher's: refused before any work.
  with pytest.raises(ValueError, match="classes"):
    loop.run(config, os.path.join(root, "never_created"))
