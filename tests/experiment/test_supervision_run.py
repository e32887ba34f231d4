"""The complexity launcher's library half on a tiny teacher and student."""

import json
import os

import numpy as np
import pytest

from kd_ntk.experiment import complexity_inputs, supervision_run
from kd_ntk.configs import complexity
from kd_ntk.data import class_balanced_subset
from kd_ntk.reports import plots, tables
from model_helpers import filled_variables


def test_rows_cover_every_target_and_are_finite(teacher_dir, tmp_path):
  config = complexity.get_config(f"tiny,teacher_workdir='{teacher_dir}'")
  rows = supervision_run.run(config, str(tmp_path))
  assert {r["kernel"] for r in rows} == {"empirical"}
  rows = [r for r in rows if r["subset"] == 0 and r["draw"] == 0]
  kinds = [(r["target"], r["teacher_epoch"], r["temperature"]) for r in rows]
  assert ("labels", "", "") in kinds and ("random_labels", "", "") in kinds
  assert {(t, tau) for k, t, tau in kinds if k == "teacher"} == {
    (t, tau) for t in (0, 1, 2) for tau in (1.0, 4.0)
  }
  assert all(np.isfinite(r["asc"]) and r["asc"] > 0 for r in rows)
  # Random labels are at least as complex as ... themselves under any kernel; and
  # the uniform-ish teacher at init (epoch 0, τ=4) is simpler than one-hot labels.
  asc = {
    (r["target"], r["teacher_epoch"], r["temperature"]): r["asc"] for r in rows
  }
  assert asc[("teacher", 0, 4.0)] < asc[("labels", "", "")]
  back = supervision_run.read_csv(os.path.join(str(tmp_path), "complexity.csv"))
  assert back[0]["asc"] == pytest.approx(rows[0]["asc"])
  back = [r for r in back if r["subset"] == 0 and r["draw"] == 0]
  assert len(back) == len(rows)
  assert os.path.exists(
    plots.asc_vs_teacher_epoch(back, str(tmp_path / "a.png"))
  )
  assert "ridge-dominated" in tables.complexity_table(back, 0)


def test_subsets_and_draws_give_a_spread(teacher_dir, tmp_path):
  config = complexity.get_config(
    f"tiny,teacher_workdir='{teacher_dir}',num_subsets=3,"
    "num_random_draws=2,temperatures=(1.0,)"
  )
  rows = supervision_run.run(config, str(tmp_path))
  assert {
    (r["subset"], r["draw"]) for r in rows if r["target"] == "random_labels"
  } == {(s, d) for s in range(3) for d in range(2)}
  assert all(r["draw"] == 0 for r in rows if r["target"] != "random_labels")
  # Every draw and every subset is a different target or kernel: distinct ASC.
  random_asc = [r["asc"] for r in rows if r["target"] == "random_labels"]
  assert len(set(random_asc)) == 6
  label_asc = [r["asc"] for r in rows if r["target"] == "labels"]
  assert len(set(label_asc)) == 3
  with open(os.path.join(str(tmp_path), "complexity.csv")) as fh:
    header = fh.readline().strip().split(",")
  assert {"kernel", "subset", "draw", "kernel_note"} <= set(header)
  back = supervision_run.read_csv(os.path.join(str(tmp_path), "complexity.csv"))
  assert all(
    float(r["subset"]).is_integer() and float(r["draw"]).is_integer()
    for r in back
  )


def test_ntk_subsets_are_disjoint_class_balanced_and_refused_when_data_runs_out():
  labels = np.repeat(np.arange(4), 30)
  subsets = complexity_inputs.ntk_subsets(
    labels, 20, num_subsets=3, seed=0, num_classes=4
  )
  assert [len(s) for s in subsets] == [20, 20, 20]
  assert len(set(np.concatenate(subsets))) == 60  # pairwise disjoint
  for s in subsets:
    assert np.bincount(labels[s], minlength=4).tolist() == [5, 5, 5, 5]
  # Subset 0 is the single subset of earlier versions (same seed).
  np.testing.assert_array_equal(
    subsets[0], class_balanced_subset(labels, 20, 0, 4)
  )
  with pytest.raises(ValueError, match="disjoint NTK subsets"):
    complexity_inputs.ntk_subsets(
      labels, 50, num_subsets=3, seed=0, num_classes=4
    )


def test_a_tuple_of_kernels_gives_one_block_of_rows_per_kernel(
  teacher_dir, tmp_path
):
  config = complexity.get_config(
    f"tiny,teacher_workdir='{teacher_dir}',num_subsets=2,"
    "kernel=(empirical,monte_carlo)"
  )
  rows = supervision_run.run(config, str(tmp_path))
  order = [r["kernel"] for r in rows]
  half = len(rows) // 2
  assert order == ["empirical"] * half + ["monte_carlo"] * half
  key = lambda r: (
    r["subset"],
    r["student_epoch"],
    r["target"],
    r["teacher_epoch"],
    r["temperature"],
    r["draw"],
  )
  assert [key(r) for r in rows[:half]] == [key(r) for r in rows[half:]]
  assert rows[0]["asc"] != rows[half]["asc"]  # a different kernel
  assert rows[half]["kernel_note"] and not rows[0]["kernel_note"]
  supervision_run.write_outputs(rows, str(tmp_path))
  for name in (
    "kernel_agreement.json",
    "kernel_agreement.md",
    "verdicts.json",
    "asc_vs_teacher_epoch_by_kernel.png",
  ):
    assert os.path.exists(tmp_path / name), name
  report = json.loads((tmp_path / "kernel_agreement.json").read_text())
  assert report["rank_agreement"][0]["kernels"] == ["empirical", "monte_carlo"]
  assert set(report["claims_by_kernel"]) == {"empirical", "monte_carlo"}


@pytest.mark.parametrize(
  "arg, message",
  [
    ("kernel=(empirical,exact)", "Unknown kernel"),
    (
      "kernel=(infinite,),student_model='mobilenetv3_small'",
      "No stax twin for 'mobilenetv3_small'",
    ),
    ("num_subsets=0", "num_subsets must be a positive integer"),
    ("twin_parameterization='mean_field'", "twin_parameterization"),
  ],
)
def test_bad_kernel_settings_fail_in_one_line_before_work(
  teacher_dir, tmp_path, arg, message
):
  config = complexity.get_config(f"tiny,teacher_workdir='{teacher_dir}',{arg}")
  with pytest.raises(ValueError, match=message) as info:
    supervision_run.run(config, str(tmp_path / "out"))
  assert "\n" not in str(info.value)
  assert not os.path.exists(tmp_path / "out")


def test_missing_teacher_epoch_fails_before_work(teacher_dir, tmp_path):
  config = complexity.get_config(
    f"tiny,teacher_workdir='{teacher_dir}',teacher_epochs=(0,9)"
  )
  with pytest.raises(ValueError, match=r"Teacher epochs \[9\] are not saved"):
    supervision_run.run(config, str(tmp_path / "out"))
  assert not os.path.exists(tmp_path / "out")


def test_teacher_workdir_required(tmp_path):
  with pytest.raises(ValueError, match="teacher_workdir is required"):
    supervision_run.run(complexity.get_config("tiny"), str(tmp_path))


def test_every_checkpoint_shares_one_network_function(monkeypatch):
  """One `f` for the initialisation and every checkpoint, BatchNorm statistics
  included (in θ, with zero gradient): the kernel engine compiles once, and
  each checkpoint's logits and float64 kernel are those of `inference_fn`."""
  import jax.numpy as jnp
  from kd_ntk.models import get_model, inference_fn
  from kd_ntk.ntk import empirical_ntk

  shape = (28, 28, 1)
  model = get_model("cnn_tiny", 10)  # BatchNorm: state beyond parameters
  monkeypatch.setattr(
    complexity_inputs,
    "init_variables",
    lambda model, key, _: filled_variables(model, shape, int(key[-1])),
  )
  monkeypatch.setattr(
    complexity_inputs, "student_model", lambda *_: ("cnn_tiny", {}, model)
  )
  config = complexity.get_config("tiny")
  source = complexity_inputs.StudentCheckpoints(config, 10, shape)
  (e0, a), (e1, b) = [*source.at([0]), *source.at([0])]
  assert e0 == e1 == 0 and a.f is b.f and a.params is b.params
  assert set(a.init_fn(np.array([0, 3], np.uint32))) == {"params", "state"}

  saved = [filled_variables(model, shape, seed) for seed in (1, 2)]
  monkeypatch.setattr(
    complexity_inputs.runs,
    "restore_variables",
    lambda workdir, epoch, *_, **__: saved[epoch],
  )
  config.student_workdir = "run"
  students = [s for _, s in source.at([0, 1])]
  assert students[0].f is students[1].f is a.f
  x = np.random.default_rng(0).random((4, *shape), np.float32)
  for student, variables in zip(students, saved):
    expected = model.apply(variables, x, train=False)
    np.testing.assert_allclose(
      student.f(student.params, x), expected, rtol=1e-6
    )
  # Equal up to the float32 rounding of the Jacobians: XLA may fold the
  # closed-over statistics into constants (2e-16 apart on JAX 0.5.3, 7e-8 on
  # 0.10.2); counting the statistics as parameters would be 4e-3 off.
  f, params = inference_fn(model, saved[1])
  np.testing.assert_allclose(
    empirical_ntk(students[1].f, students[1].params, x, dtype=jnp.float64),
    empirical_ntk(f, params, x, dtype=jnp.float64),
    rtol=1e-6,
  )


def test_the_run_scores_through_score_teacher_and_writes_norm_matched_columns(
  teacher_dir, tmp_path
):
  """The launcher's rows are kd_ntk.score_teacher's on the same subset and
  student, with target_norm and asc_norm_matched; C2n/C4n become testable."""
  import jax

  import kd_ntk
  from kd_ntk.science import claims
  from kd_ntk.models import get_model, init_variables

  config = complexity.get_config(
    f"tiny,teacher_workdir='{teacher_dir}',student_model='mlp',"
    "student_model_kwargs.width=8,num_subsets=2,ntk_float64=True"
  )
  rows = supervision_run.run(config, str(tmp_path))
  assert all(r["target_norm"] > 0 for r in rows)
  for r in rows:
    assert r["asc_norm_matched"] == pytest.approx(
      r["asc"] * np.sqrt(r["n"]) / r["target_norm"]
    )
  teacher = kd_ntk.load_teacher(teacher_dir)
  x, y = teacher.train_data()
  model = get_model("mlp", 10, width=8)
  variables = init_variables(model, jax.random.PRNGKey(0), (28, 28, 1))
  subsets = complexity_inputs.ntk_subsets(
    y, 32, num_subsets=2, seed=0, num_classes=10
  )
  scores = kd_ntk.score_teacher(
    model,
    variables,
    x,
    labels=y,
    targets=teacher,
    temperatures=(1.0, 4.0),
    subsets=subsets,
    random_label_draws=config.num_random_draws,
  )
  by_key = {
    (s.subset, s.draw, s.target, s.checkpoint, s.temperature): s.asc
    for s in scores.scores
  }
  for r in rows:
    key = (
      r["subset"],
      r["draw"],
      r["target"],
      r["teacher_epoch"] if r["teacher_epoch"] != "" else None,
      r["temperature"] if r["temperature"] != "" else None,
    )
    assert r["asc"] == pytest.approx(by_key[key], rel=1e-5), key
  verdicts = {v["claim"]: v for v in claims.complexity_verdicts(rows)}
  for claim in ("C2n", "C4n"):
    assert "no target_norm column" not in verdicts[claim]["note"]
    assert verdicts[claim]["outcome"] != "not testable in this regime"


def test_config_json_report_and_a_different_config_refused(
  teacher_dir, tmp_path
):
  arg = f"tiny,teacher_workdir='{teacher_dir}',num_subsets=2"
  rows = supervision_run.run(complexity.get_config(arg), str(tmp_path))
  supervision_run.write_outputs(rows, str(tmp_path))
  saved = json.loads((tmp_path / "config.json").read_text())
  assert saved["temperatures"] == [1.0, 4.0]
  report = (tmp_path / "report.md").read_text()
  assert "| empirical | 0 | teacher | 2 | 4 |" in report
  assert "## Files in this folder" in report
  for name in ("config.json", "complexity.csv", "verdicts.json", "report.md"):
    assert f"`{name}`" in report, name
  assert "`bound.csv`" not in report  # not written by a run at initialisation
  before = (tmp_path / "complexity.csv").read_bytes()
  other = complexity.get_config(arg + ",temperatures=(2.0,)")
  with pytest.raises(ValueError, match="different config") as info:
    supervision_run.run(other, str(tmp_path))
  assert "temperatures" in str(info.value) and "\n" not in str(info.value)
  assert (tmp_path / "complexity.csv").read_bytes() == before
  again = supervision_run.run(complexity.get_config(arg), str(tmp_path))
  assert [r["asc"] for r in again] == [r["asc"] for r in rows]


USER_MODULE = """
import flax.linen as nn


class Tiny(nn.Module):  # no `train` argument
  num_classes: int
  width: int = 4

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(self.width)(x.reshape((x.shape[0], -1))))
    return nn.Dense(self.num_classes)(x)
"""


def test_a_user_model_named_by_import_path(teacher_dir, tmp_path):
  (tmp_path / "my_models.py").write_text(USER_MODULE)
  path = str(tmp_path / "my_models.py")
  config = complexity.get_config(
    f"tiny,teacher_workdir='{teacher_dir}',student_model='{path}:Tiny',"
    "student_model_kwargs.width=3"
  )
  rows = supervision_run.run(config, str(tmp_path / "out"))
  assert rows and all(np.isfinite(r["asc"]) for r in rows)
  from kd_ntk.models import get_model, parameter_count

  model = get_model(f"{path}:Tiny", 10, width=3)
  assert (model.num_classes, model.width) == (10, 3)
  with pytest.raises(ValueError, match="has no attribute 'Nope'"):
    get_model(f"{path}:Nope", 10)
  with pytest.raises(ValueError, match="cannot import 'no_such_module_h3'"):
    get_model("no_such_module_h3:Net", 10)
  del parameter_count


def test_the_figure_takes_subset_means_and_names_student_kernel_and_n(tmp_path):
  rows = [
    dict(
      target="teacher",
      teacher_epoch=e,
      temperature=1.0,
      student_epoch=0,
      subset=s,
      n=16,
      asc=0.1 * e + 0.01 * s,
    )
    for e in (0, 1, 2)
    for s in (0, 1, 2)
  ] + [
    dict(
      target="random_labels", student_epoch=0, subset=s, draw=d, n=16, asc=1 + d
    )
    for s in (0, 1)
    for d in (0, 1)
  ]
  assert plots._subset_means(rows, target="random_labels") == [1.5, 1.5]
  assert plots._subset_means(
    rows, target="teacher", teacher_epoch=2, temperature=1.0
  ) == pytest.approx([0.2, 0.21, 0.22])
  title = plots.complexity_title("lenet5", "empirical", rows)
  assert title == (
    "ASC under lenet5's empirical kernel, n = 16 (3 subsets; mean ± 95% CI)"
  )
  path = plots.asc_vs_teacher_epoch(rows, str(tmp_path / "f.png"), title=title)
  assert os.path.getsize(path) > 0
