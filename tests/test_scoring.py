"""kd_ntk.score_teacher: one call from a student and targets to typed scores."""

import csv
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kd_ntk
from kd_ntk import complexity
from kd_ntk.science import claims, stats
from kd_ntk.ntk import empirical_ntk
from kd_ntk.scoring import Interval, records

C = 4


def student(seed=0, d=6, width=16):
  """A plain-JAX two-layer network f(params, x) and its parameters."""
  rng = np.random.default_rng(seed)
  params = {
    "w1": jnp.asarray(rng.normal(size=(d, width)) / np.sqrt(d), jnp.float32),
    "w2": jnp.asarray(rng.normal(size=(width, C)) / 4.0, jnp.float32),
  }
  return (lambda p, x: jnp.tanh(x @ p["w1"]) @ p["w2"]), params


def data(n=48, d=6, seed=1):
  rng = np.random.default_rng(seed)
  labels = np.repeat(np.arange(C), n // C)
  x = rng.normal(size=(n, d)).astype(np.float32) + labels[:, None] * 0.3
  logits = rng.normal(size=(3, n, C)) * np.array([0.1, 1.0, 3.0])[:, None, None]
  return x, labels, logits


def test_every_score_is_supervision_complexity_of_its_subset():
  f, params = student()
  x, labels, logits = data()
  scores = kd_ntk.score_teacher(
    f,
    params,
    x,
    labels=labels,
    targets=logits,
    temperatures=(1, 4),
    subsets=3,
    random_label_draws=2,
  )
  assert scores.n == 16 and scores.num_subsets == 3
  # 3 subsets x (labels + 2 draws + 3 checkpoints x 2 temperatures).
  assert len(scores.scores) == 3 * (1 + 2 + 6)
  assert {r.subset for r in scores.scores} == {0, 1, 2}
  for r in scores.scores:
    if r.target in ("labels", "random_labels"):
      assert r.target_norm == pytest.approx(4.0)  # one-hot: sqrt(16)
  # Recompute subset 1 from scratch: the same kernel and targets give the same ASC.
  from kd_ntk.scoring import inputs

  idx = inputs.ntk_subsets(labels, 16, num_subsets=3, seed=0, num_classes=C)[1]
  assert np.bincount(labels[idx], minlength=C).tolist() == [4] * C
  gram = empirical_ntk(f, params, x[idx], dtype=jnp.float64)
  y = complexity.teacher_probabilities(logits[2][idx], 4.0)
  expected = complexity.supervision_complexity(y, gram)
  got = next(
    r
    for r in scores.scores
    if (r.subset, r.target, r.checkpoint, r.temperature)
    == (1, "teacher", 2, 4.0)
  )
  assert got.asc == pytest.approx(expected.asc, rel=1e-9)
  assert got.target_norm == pytest.approx(np.linalg.norm(y))
  assert got.result.ridge_path == expected.ridge_path


def test_norm_matching_and_intervals_are_the_reproductions():
  f, params = student()
  x, labels, logits = data()
  scores = kd_ntk.score_teacher(
    f, params, x, labels=labels, targets=logits, temperatures=(4,), subsets=3
  )
  rows = [
    {"asc": r.asc, "n": r.n, "target_norm": r.target_norm}
    for r in scores.scores
  ]
  matched = claims.with_norm_matched(rows)
  for r, m in zip(scores.scores, matched):
    assert r.asc_norm_matched == pytest.approx(m[claims.NORM_MATCHED])
  summary = scores.summary("teacher", 0, 4)
  per_subset = [r.asc for r in summary.scores]
  mean, low, high = stats.t_interval(per_subset)
  assert (summary.asc.mean, summary.asc.low, summary.asc.high) == pytest.approx(
    (mean, low, high)
  )
  assert summary.asc.low < summary.asc.mean < summary.asc.high
  # Checkpoint 0's logits are tiny: its targets are nearly uniform, with
  # ‖Y‖_F ≈ sqrt(n/C), so norm matching multiplies its ASC by about sqrt(C).
  assert summary.target_norm == pytest.approx(math.sqrt(16 / C), rel=1e-3)
  assert summary.asc_norm_matched.mean == pytest.approx(
    math.sqrt(C) * summary.asc.mean, rel=1e-3
  )


def test_logits_in_any_form_give_the_same_scores():
  f, params = student()
  x, labels, logits = data()
  kw = dict(labels=labels, temperatures=(2,), subsets=2)
  as_array = kd_ntk.score_teacher(f, params, x, targets=logits, **kw)
  as_dict = kd_ntk.score_teacher(
    f, params, x, targets={5 * k: z for k, z in enumerate(logits)}, **kw
  )
  single = kd_ntk.score_teacher(f, params, x, targets=logits[1], **kw)
  asc = lambda s, ckpt: s.summary("teacher", ckpt, 2).asc.mean
  assert asc(as_array, 1) == asc(as_dict, 5) == asc(single, None)
  only_labels = kd_ntk.score_teacher(f, params, x, targets=labels, subsets=2)
  assert [s.target for s in only_labels.summaries] == ["labels"]
  assert (
    only_labels.summaries[0].asc.mean == as_array.summary("labels").asc.mean
  )


def test_unlabelled_inputs_take_disjoint_random_subsets():
  f, params = student()
  x, _, logits = data()
  scores = kd_ntk.score_teacher(
    f, params, x, targets=logits, subsets=3, num_examples=10
  )
  assert scores.n == 10 and scores.num_subsets == 3
  assert {s.target for s in scores.summaries} == {"teacher"}


def test_tables_and_csv(tmp_path):
  f, params = student()
  x, labels, logits = data()
  scores = kd_ntk.score_teacher(
    f, params, x, labels=labels, targets=logits[:1], subsets=2
  )
  text = scores.to_markdown()
  assert "| labels |" in text and "| teacher | 0 | 1 |" in text
  path = scores.to_csv(str(tmp_path / "s.csv"))
  with open(path) as fh:
    rows = list(csv.DictReader(fh))
  assert [r["target"] for r in rows] == ["labels", "teacher"]
  assert float(rows[0]["asc"]) == pytest.approx(scores.summaries[0].asc.mean)
  assert {"asc_low", "asc_high", "asc_norm_matched", "target_norm"} <= set(
    rows[0]
  )
  per_subset = scores.to_rows(per_subset=True)
  assert len(per_subset) == 4 and "condition_number" in per_subset[0]
  assert "asc_ridge_0.0001" in per_subset[0]


def test_interval_of_one_value_has_no_width():
  one = Interval.of([0.5])
  assert one.mean == 0.5 and math.isnan(one.low) and one.count == 1
  assert str(one) == "0.5"
  assert records.norm_matched(1.0, 16, 2.0) == 2.0


@pytest.mark.parametrize(
  "kwargs, message",
  [
    (dict(), "nothing to score"),
    (dict(labels=np.zeros(48, int), temperatures=(0,)), "temperatures"),
    (dict(targets=np.zeros((48, 3))), "3] classes, the student 4"),
    (dict(targets=np.zeros((40, 4))), r"expected \(48, C\)"),
    (dict(labels=np.arange(48)), "labels must be integers in \\[0, 4\\)"),
    (dict(labels=np.zeros(48, int), subsets=30), "num_examples=1"),
    (dict(labels=np.zeros(48, int), random_label_draws=-1), "draws"),
    (dict(labels=np.zeros(48, int), kernel="nngp"), "kernel must be"),
  ],
)
def test_bad_arguments_fail_in_one_line(kwargs, message):
  f, params = student()
  x, _, _ = data()
  with pytest.raises(ValueError, match=message) as info:
    kd_ntk.score_teacher(f, params, x, **kwargs)
  assert "\n" not in str(info.value)


def test_a_teacher_workdir_is_scored_at_every_checkpoint(teacher_dir):
  teacher = kd_ntk.load_teacher(teacher_dir)
  assert teacher.epochs == (0, 1, 2)
  x, y = teacher.train_data()
  model = kd_ntk.models.get_model("mlp", 10, width=4)
  variables = kd_ntk.models.init_variables(
    model, jax.random.PRNGKey(0), teacher.input_shape
  )
  kw = dict(labels=y, temperatures=(1, 4), subsets=2, num_examples=20)
  from_dir = kd_ntk.score_teacher(
    model, variables, x, targets=teacher_dir, **kw
  )
  logits = teacher.logits(x)
  from_logits = kd_ntk.score_teacher(model, variables, x, targets=logits, **kw)
  assert [s.asc for s in from_dir.scores] == pytest.approx(
    [s.asc for s in from_logits.scores], rel=1e-6
  )  # float32 logits of other batches: equal up to rounding
  assert {s.checkpoint for s in from_dir.summaries} == {None, 0, 1, 2}
  some = kd_ntk.score_teacher(
    model, variables, x, targets=teacher, checkpoints=(2,), **kw
  )
  assert {s.checkpoint for s in some.summaries} == {None, 2}
  with pytest.raises(ValueError, match="no checkpoint 7"):
    kd_ntk.score_teacher(
      model, variables, x, targets=teacher, checkpoints=(7,), **kw
    )


def test_the_teacher_normalises_as_it_trained(teacher_dir):
  from kd_ntk.data import load
  from kd_ntk.train.from_config import splits_from_config

  teacher = kd_ntk.load_teacher(teacher_dir)
  splits = splits_from_config(teacher.config)
  images, _, _ = load("fashion_mnist", "test")
  np.testing.assert_array_equal(
    teacher.normalize(images[:5]),
    (images[:5].astype(np.float32) / 255.0 - splits.mean) / splits.std,
  )
  x, y = teacher.train_data()
  np.testing.assert_array_equal(x, splits.train_images)
  assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-2
  with pytest.raises(ValueError, match="uint8"):
    teacher.normalize(x[:2])
  # The checkpoints are the run's: epoch 2 logits match its test accuracy.
  xt, yt = teacher.test_data()
  accuracy = float((teacher.logits(xt, (2,))[2].argmax(1) == yt).mean())
  final = kd_ntk.train.workdir.read_metrics(teacher_dir)[-1]["test_accuracy"]
  assert accuracy == pytest.approx(final, abs=1e-6)


USER_SCRIPT = """\
import flax.linen as nn, jax, kd_ntk

class MyStudent(nn.Module):  # a flax module with no `train` argument
  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(4, (3, 3), strides=2)(x)).reshape((len(x), -1))
    return nn.Dense(10)(x)

teacher = kd_ntk.load_teacher(TEACHER_DIR)      # checkpoints + normalisation
x, y = teacher.train_data()                     # normalised as the teacher saw it
variables = MyStudent().init(jax.random.PRNGKey(0), x[:1])
scores = kd_ntk.score_teacher(MyStudent(), variables, x, labels=y, targets=teacher,
                              temperatures=(1, 4), subsets=2, random_label_draws=1)
print(scores.to_markdown())
scores.to_csv("scores.csv")
"""


def test_a_new_users_script_of_15_lines_scores_their_student(
  teacher_dir, tmp_path
):
  assert len(USER_SCRIPT.strip().splitlines()) <= 15
  script = tmp_path / "score_my_student.py"
  script.write_text(USER_SCRIPT.replace("TEACHER_DIR", repr(teacher_dir), 1))
  out = subprocess.run(
    [sys.executable, str(script)],
    cwd=str(tmp_path),
    capture_output=True,
    text=True,
    check=False,
    env={**os.environ, "PYTHONPATH": os.getcwd()},
  )
  assert out.returncode == 0, out.stderr[-2000:]
  assert "| teacher | 2 | 4 |" in out.stdout
  with open(tmp_path / "scores.csv") as fh:
    rows = list(csv.DictReader(fh))
  # labels, random labels, 3 checkpoints x 2 temperatures; all finite and > 0.
  assert len(rows) == 8
  assert all(float(r["asc"]) > 0 and float(r["asc_low"]) > 0 for r in rows)
  random_asc = next(
    float(r["asc"]) for r in rows if r["target"] == "random_labels"
  )
  labels_asc = next(float(r["asc"]) for r in rows if r["target"] == "labels")
  assert random_asc > labels_asc  # C1's first half, on a learnable data set
