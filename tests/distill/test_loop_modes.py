"""Student runs in every mode, lock-step equivalence, resume, lr scaling."""

import os
import shutil

import jax
import numpy as np
import pytest

from kd_ntk import metrics
from kd_ntk.configs import (
  distill as distill_config,
)
from kd_ntk.data import data_mesh
from kd_ntk.distill import loop
from kd_ntk.distill.optimizer import student_optimizer
from kd_ntk.train import (
  checkpoint,
  loop as train_loop,
  runs as run_reading,
  workdir as wd,
)
from kd_ntk.train.evaluation import predict_logits
from kd_ntk.train.from_config import splits_from_config

MODES = {  # variant -> teacher_epoch of rows 0, 1, 2.
  "none": [None, None, None],
  "offline": [2, 2, 2],
  "early": [1, 1, 1],
  "online": [1, 1, 2],
  "online_blend": [0, 1, 2],
  "online_switch": [1, 1, 2],
  "anchors": [1, 1, 2],
  "progressive": [1, 1, 2],
  "temperature_curriculum": [2, 2, 2],
  "lockstep": [0, 1, 2],
  "lockstep,distill.granularity='step'": [0, 1, 2],
  "online,epochs=4": [
    1,
    1,
    1,
    2,
    2,
  ],  # E = 4 student epochs over T = 2: ⌈2t/4⌉.
}


def _config(teacher_dir, arg=""):
  config = distill_config.get_config(f"tiny,{arg}" if arg else "tiny")
  config.distill.teacher_workdir = teacher_dir
  return config


@pytest.fixture(scope="module")
def runs(root, teacher_dir):
  """Runs a variant once per module: variant -> (workdir, rows)."""
  done = {}

  def get(variant):
    if variant not in done:
      workdir = os.path.join(root, variant.replace("'", "").replace(",", "_"))
      done[variant] = workdir, loop.run(_config(teacher_dir, variant), workdir)
    return done[variant]

  return get


@pytest.mark.parametrize("variant", sorted(MODES))
def test_each_mode_end_to_end(runs, variant, read_events):
  workdir, rows = runs(variant)
  epochs = list(range(len(MODES[variant])))
  events = read_events(workdir)
  assert events["test_accuracy"] == [
    (r["epoch"], pytest.approx(r["test_accuracy"])) for r in rows
  ]
  if variant.startswith("lockstep"):  # The teacher half writes its own events.
    teacher_rows = wd.read_metrics(os.path.join(workdir, "teacher"))
    assert read_events(os.path.join(workdir, "teacher"))["train_loss"] == [
      (r["epoch"], pytest.approx(r["train_loss"])) for r in teacher_rows[1:]
    ]
  assert [r["epoch"] for r in rows] == epochs
  assert checkpoint.saved_epochs(workdir) == epochs
  assert [r["teacher_epoch"] for r in rows] == MODES[variant]
  keys = [
    "train_loss",
    "train_batch_accuracy",
    "test_accuracy",
    "test_loss",
    "test_ece",
    "train_accuracy",
    "train_eval_loss",
    "seconds",
    "learning_rate",
  ]
  if variant != "none":
    keys += [
      f"{s}_{m}_current"
      for s in ("train", "test")
      for m in ("fidelity", "kl", "margin")
    ] + ["train_kd", "temperature"]
  if variant != "none" and not variant.startswith("lockstep"):
    keys += [
      f"{s}_{m}_final"
      for s in ("train", "test")
      for m in ("fidelity", "kl", "margin")
    ]
  for row in rows[1:]:
    for key in keys:
      assert np.isfinite(row[key]), (variant, key, row.get(key))
  if variant == "temperature_curriculum":
    assert [r.get("temperature") for r in rows] == [None, 8.0, 1.0]


def test_final_fidelity_matches_an_independent_computation(runs, teacher_dir):
  workdir, rows = runs("online")
  config = wd.load_config(workdir)
  splits = splits_from_config(config)
  mesh = data_mesh()
  _, model = run_reading.load_run(workdir)
  _, teacher_model = run_reading.load_run(teacher_dir)
  student = predict_logits(
    model,
    run_reading.restore_variables(workdir, 2),
    splits.test_images,
    batch_size=64,
    mesh=mesh,
  )
  teacher = predict_logits(
    teacher_model,
    run_reading.restore_variables(teacher_dir, 2),
    splits.test_images,
    batch_size=64,
    mesh=mesh,
  )
  assert rows[-1]["test_fidelity_final"] == pytest.approx(
    metrics.fidelity(student, teacher)
  )
  assert rows[-1]["test_kl_final"] == pytest.approx(
    metrics.kl_divergence(teacher, student), rel=1e-5
  )
  assert rows[-1]["test_accuracy"] == pytest.approx(
    metrics.accuracy(student, splits.test_labels)
  )


def _params(workdir, epoch):
  return jax.tree_util.tree_leaves(
    run_reading.restore_variables(workdir, epoch)
  )


@pytest.mark.parametrize("offset", [0, -1])
def test_lockstep_matches_teacher_run_then_online_student(
  runs, teacher_dir, offset
):
  """Same data order and seeds: equal up to float reassociation (rtol 1e-5, atol 1e-6)."""
  online_dir, online_rows = runs(f"online,distill.online_offset={offset}")
  lock_dir, lock_rows = runs(f"lockstep,distill.online_offset={offset}")
  for a, b in zip(_params(online_dir, 2), _params(lock_dir, 2)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  for a, b in zip(
    _params(teacher_dir, 2), _params(os.path.join(lock_dir, "teacher"), 2)
  ):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  for key in ("train_loss", "test_accuracy", "test_fidelity_current"):
    np.testing.assert_allclose(
      [r[key] for r in online_rows[1:]],
      [r[key] for r in lock_rows[1:]],
      rtol=1e-5,
      atol=1e-6,
    )
  assert [r["teacher_epoch"] for r in lock_rows[1:]] == [1 + offset, 2 + offset]


def test_lockstep_teacher_is_an_ordinary_teacher_run(runs):
  lock_dir, _ = runs("lockstep")
  teacher_run = os.path.join(lock_dir, "teacher")
  assert checkpoint.saved_epochs(teacher_run) == [0, 1, 2]
  assert [r["epoch"] for r in wd.read_metrics(teacher_run)] == [0, 1, 2]
  # Resuming it with the teacher loop finds it finished: the same config.
  rows = train_loop.run(wd.load_config(teacher_run), teacher_run)
  assert len(rows) == 3


@pytest.mark.parametrize("variant", ["online", "lockstep"])
def test_resume_after_a_crash_matches_the_uninterrupted_run(
  runs, root, variant
):
  workdir, rows = runs(variant)
  crashed = os.path.join(root, f"crashed_{variant}")
  shutil.copytree(workdir, crashed)
  shutil.rmtree(
    os.path.join(crashed, "checkpoints", "2")
  )  # Epoch 2 never saved.
  resumed_rows = loop.run(wd.load_config(crashed), crashed)
  assert [r["epoch"] for r in resumed_rows] == [0, 1, 2]
  assert resumed_rows[2]["test_accuracy"] == pytest.approx(
    rows[2]["test_accuracy"]
  )
  for a, b in zip(_params(workdir, 2), _params(crashed, 2)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_lr_scale_divides_the_learning_rate_by_tau_squared(teacher_dir):
  plain = _config(
    teacher_dir, "online,distill.temperature=4.0,distill.lr_scale='none'"
  )
  scaled = _config(
    teacher_dir,
    "online,distill.temperature=4.0,distill.lr_scale='inverse_tau_squared'",
  )
  lr_plain = float(student_optimizer(plain, 4)[1](0))
  assert float(student_optimizer(scaled, 4)[1](0)) == pytest.approx(
    lr_plain / 16
  )
  by_tau = _config(
    teacher_dir, "online,distill.temperature=4.0,distill.lr_scale='inverse_tau'"
  )
  assert float(student_optimizer(by_tau, 4)[1](0)) == pytest.approx(
    lr_plain / 4
  )
  curriculum = _config(
    teacher_dir, "temperature_curriculum,distill.lr_scale='inverse_tau_squared'"
  )
  assert float(student_optimizer(curriculum, 4)[1](0)) == pytest.approx(
    lr_plain / 64
  )


def test_workdir_of_another_config_is_refused(runs, teacher_dir):
  workdir, _ = runs("online")
  with pytest.raises(ValueError, match="different config"):
    loop.run(_config(teacher_dir, "online,distill.alpha=0.5"), workdir)


def test_lockstep_checks_both_halves_for_a_collapse(runs, root, monkeypatch):
  """Student and lock-step teacher rows both reach the chance-level check."""
  from kd_ntk.train import health as train_health

  workdir, _ = runs("lockstep")
  again = os.path.join(root, "lockstep_chance_check")
  shutil.copytree(workdir, again)
  shutil.rmtree(os.path.join(again, "checkpoints", "2"))
  seen = []
  monkeypatch.setattr(
    train_health,
    "warn_if_chance_level",
    lambda row, c, epoch, label, hint: seen.append(
      (label, epoch, "test_accuracy" in row, hint)
    ),
  )
  loop.run(wd.load_config(again), again)
  labels = {(label, epoch, has) for label, epoch, has, _ in seen}
  assert labels == {("student", 2, True), ("lock-step teacher", 2, True)}
  assert any("distill.teacher.optimizer" in h for *_, h in seen)
