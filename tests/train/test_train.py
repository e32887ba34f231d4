"""Training: one step lowers the loss; runs checkpoint, resume and reproduce."""

import functools
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk import models
from kd_ntk.configs import teacher
from kd_ntk.train import (
  checkpoint,
  integrity,
  loop,
  runs,
  state as state_lib,
  steps,
  workdir as wd,
)


def test_one_step_lowers_loss_on_a_fixed_batch():
  model = models.get_model("lenet5", 10)
  cfg = teacher.get_config("").optimizer
  tx = state_lib.make_optimizer(cfg, steps_per_epoch=10, epochs=1)
  state = state_lib.create_state(model, tx, jax.random.PRNGKey(0), (28, 28, 1))
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(16, 28, 28, 1)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 10, 16))
  loss = lambda s: steps.cross_entropy(
    model.apply(s.variables(), images), labels
  )
  before = float(loss(state))
  step = jax.jit(functools.partial(steps.train_step, model=model, tx=tx))
  for _ in range(3):
    state, metrics = step(state, images, labels, jax.random.PRNGKey(1))
  assert float(loss(state)) < before - 1e-3
  assert int(state.step) == 3


def test_golden_loss_of_one_lenet5_step():
  """A fixed seed and batch give the same losses to 6 digits on every leg.

  The values were computed once with this test's code on JAX 0.5.3 (pinned
  stack) and on JAX 0.10.2 (core-only leg), both on the CPU: the loss after the
  step was 2.3041038513 on both, the loss before it 2.5885637 (0.5.3) and
  2.5885639 (0.10.2); abs=1e-6 holds on both. A change of initialisation,
  loss, optimizer or XLA settings that moves them is a change of results.
  """
  model = models.get_model("lenet5", 10)
  tx = state_lib.make_optimizer(
    teacher.get_config("").optimizer, steps_per_epoch=10, epochs=1
  )
  state = state_lib.create_state(model, tx, jax.random.PRNGKey(0), (28, 28, 1))
  images = (
    np.random.default_rng(0).normal(size=(32, 28, 28, 1)).astype(np.float32)
  )
  labels = (np.arange(32) % 10).astype(np.int32)
  step = jax.jit(functools.partial(steps.train_step, model=model, tx=tx))
  state, first = step(state, images, labels, jax.random.PRNGKey(1))
  _, second = step(state, images, labels, jax.random.PRNGKey(1))
  assert float(first["loss"]) == pytest.approx(
    2.588564, abs=1e-6
  )  # At initialisation.
  assert float(second["loss"]) == pytest.approx(
    2.304104, abs=1e-6
  )  # After one step.


def test_batchnorm_statistics_update_in_train_step():
  model = models.get_model("cnn_tiny", 10)
  tx = state_lib.make_optimizer(teacher.get_config("").optimizer, 10, 1)
  state = state_lib.create_state(model, tx, jax.random.PRNGKey(0), (28, 28, 1))
  images = jnp.ones((8, 28, 28, 1)) * 3.0
  # Jitted: run eagerly, each of the step's operations compiled on its own.
  step = jax.jit(functools.partial(steps.train_step, model=model, tx=tx))
  new, _ = step(state, images, jnp.zeros(8, jnp.int32), jax.random.PRNGKey(0))
  before = jax.tree_util.tree_leaves(state.batch_stats)
  after = jax.tree_util.tree_leaves(new.batch_stats)
  assert any(not np.allclose(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("schedule", ["cosine", "step", "constant"])
def test_learning_rate_schedules(schedule):
  opt = teacher.get_config(f"optimizer.schedule='{schedule}'").optimizer
  lr = state_lib.learning_rate_schedule(opt, steps_per_epoch=10, epochs=4)
  assert float(lr(0)) == pytest.approx(opt.learning_rate)
  end = float(lr(40))  # After the last of 4 x 10 steps.
  expected = {
    "cosine": 0.0,
    "step": opt.learning_rate * 0.01,
    "constant": opt.learning_rate,
  }[schedule]
  assert end == pytest.approx(expected, abs=1e-3 * opt.learning_rate)


def _tiny(**overrides):
  config = teacher.get_config("tiny")
  config.epochs = 2
  for k, v in overrides.items():
    config[k] = v
  return config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("teacher"))
  rows = loop.run(_tiny(), workdir)
  return workdir, rows


def test_run_writes_every_epoch(finished_run, read_events):
  workdir, rows = finished_run
  events = read_events(
    workdir
  )  # TensorBoard scalars of every row, step = epoch.
  assert [step for step, _ in events["test_accuracy"]] == [0, 1, 2]
  assert [v for _, v in events["test_accuracy"]] == pytest.approx(
    [r["test_accuracy"] for r in rows]
  )
  assert [step for step, _ in events["train_loss"]] == [1, 2]
  assert checkpoint.saved_epochs(workdir) == [0, 1, 2]
  assert [r["epoch"] for r in rows] == [0, 1, 2]
  for row in rows[1:]:
    for key in (
      "train_loss",
      "train_accuracy",
      "test_loss",
      "test_accuracy",
      "learning_rate",
      "seconds",
    ):
      assert np.isfinite(row[key]), key
  with open(os.path.join(workdir, "config.json")) as fh:
    written = json.load(fh)
  assert written["model"] == "mlp"
  assert (written["num_classes"], written["input_shape"]) == (10, [28, 28, 1])


def test_run_is_read_back_from_its_own_files(finished_run, tmp_path):
  workdir, _ = finished_run
  config, model = runs.load_run(workdir)
  assert model.num_classes == config.num_classes == 10
  reader = runs.RunReader(workdir)
  assert reader.input_shape == (28, 28, 1)
  assert reader.variables(1) is reader.variables(1)  # Kept by the reader...
  assert runs.RunReader(workdir).variables(1) is not reader.variables(
    1
  )  # ...not globally.
  old = str(tmp_path / "old_run")  # Written before config.json had data fields.
  shutil.copytree(workdir, old)
  path = os.path.join(old, "config.json")
  with open(path) as fh:
    fields = {
      k: v
      for k, v in json.load(fh).items()
      if k not in ("num_classes", "input_shape")
    }
  with open(path, "w") as fh:
    json.dump(fields, fh)
  with pytest.raises(  # Integrity fails closed: another config.json, refused.
    integrity.CorruptCheckpointError, match="written under another config.json"
  ):
    runs.restore_variables(old, 2)
  for step in (0, 1, 2):  # Recorded again under the edited config.json.
    integrity.record(old, step)
  for a, b in zip(
    jax.tree_util.tree_leaves(runs.restore_variables(old, 2)),
    jax.tree_util.tree_leaves(runs.restore_variables(workdir, 2)),
  ):
    np.testing.assert_array_equal(a, b)


def test_config_stating_other_data_fields_is_refused(tmp_path):
  config = _tiny()
  config.num_classes = 3
  config.input_shape = (28, 28, 1)
  with pytest.raises(ValueError, match="num_classes=3"):
    loop.run(config, str(tmp_path / "bad"))
  assert not os.path.exists(tmp_path / "bad")


def test_rerun_of_finished_run_trains_nothing(finished_run):
  workdir, rows = finished_run
  stamp = os.path.getmtime(os.path.join(workdir, "metrics.jsonl"))
  again = loop.run(_tiny(), workdir)
  assert again == rows
  assert os.path.getmtime(os.path.join(workdir, "metrics.jsonl")) == stamp


def test_resume_continues_from_latest_and_matches(finished_run, tmp_path):
  workdir, rows = finished_run
  partial = str(tmp_path / "partial")
  shutil.copytree(workdir, partial)
  shutil.rmtree(
    os.path.join(partial, "checkpoints", "2")
  )  # "crash" after epoch 2's metrics
  assert checkpoint.saved_epochs(partial) == [0, 1]
  resumed = loop.run(_tiny(), partial)
  assert [r["epoch"] for r in resumed] == [0, 1, 2]
  strip = lambda row: {k: v for k, v in row.items() if k != "seconds"}
  assert strip(resumed[2]) == strip(
    rows[2]
  )  # Bit-identical: same batches, same steps.
  for a, b in zip(
    jax.tree_util.tree_leaves(runs.restore_variables(workdir, 2)),
    jax.tree_util.tree_leaves(runs.restore_variables(partial, 2)),
  ):
    np.testing.assert_array_equal(a, b)


def test_same_config_gives_identical_metrics(finished_run, tmp_path):
  _, rows = finished_run
  other = loop.run(_tiny(), str(tmp_path / "again"))
  strip = lambda rs: [
    {k: v for k, v in r.items() if k != "seconds"} for r in rs
  ]
  assert strip(other) == strip(rows)
  seeded = loop.run(_tiny(seed=1), str(tmp_path / "seed1"))
  assert strip(seeded) != strip(rows)


def test_different_config_in_same_workdir_is_refused(finished_run):
  workdir, _ = finished_run
  with pytest.raises(ValueError, match="different config .*epochs"):
    loop.run(_tiny(epochs=3), workdir)


def test_bad_batch_size_fails_before_training(tmp_path):
  with pytest.raises(ValueError, match="divisible"):
    loop.run(_tiny(batch_size=30), str(tmp_path / "bad"))
  assert not os.path.exists(tmp_path / "bad" / "checkpoints")


def test_workdir_metrics_truncation(tmp_path):
  for epoch in range(4):
    wd.append_metrics(str(tmp_path), {"epoch": epoch})
  wd.truncate_metrics(str(tmp_path), 1)
  assert [r["epoch"] for r in wd.read_metrics(str(tmp_path))] == [0, 1]
