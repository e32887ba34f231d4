"""advise() and experiments/advise.py end to end on the session's tiny teacher
(MLP width 8, checkpoints 0..2, synthetic Fashion-MNIST), and the one-line
refusals of bad input before any work."""

import csv
import json
import os
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk.advisor import advise, markdown, write_all
from launch_helpers import run_script

TINY = dict(
  student_kwargs={"width": 8},
  temperatures=(1.0, 4.0),
  n=48,
  n_validation=40,
  grace_dim=16,
)


@pytest.fixture(scope="module")
def advice(teacher_dir):
  return advise(teacher_dir, "mlp", **TINY)


def test_every_pair_is_scored_and_ranked(advice, tmp_path):
  assert len(advice.scores) == 3 * 2
  assert [s.rank for s in advice.scores] == list(range(1, 7))
  assert advice.recommended == advice.scores[0]
  assert {(s.epoch, s.temperature) for s in advice.scores} == {
    (t, tau) for t in (0, 1, 2) for tau in (1.0, 4.0)
  }
  assert all(s.is_last == (s.epoch == 2) for s in advice.scores)
  accuracy = [s.krr_accuracy for s in advice.scores]
  assert accuracy == sorted(accuracy, reverse=True)  # ranked by the decision
  for s in advice.scores:
    assert 0 < s.asc and np.isfinite(s.grace) and s.bound_total > 0
    # Teacher accuracy belongs to the checkpoint: equal across τ.
    twin = advice.by_candidate()[type(s.candidate)(s.epoch, 1.0)]
    assert s.teacher_accuracy == twin.teacher_accuracy
  # Higher τ flattens the targets: lower raw ASC for every checkpoint.
  by = advice.by_candidate()
  for t in (0, 1, 2):
    assert by[type(s.candidate)(t, 4.0)].asc < by[type(s.candidate)(t, 1.0)].asc
  paths = write_all(advice, str(tmp_path))
  with open(paths["csv"]) as fh:
    rows = list(csv.DictReader(fh))
  assert len(rows) == 6 and rows[0]["rank"] == "1"
  assert os.path.getsize(paths["figure"]) > 1000
  assert markdown(advice).count("\n| ") == 6 + 1  # header and six rows


def test_a_student_function_gives_the_preset_answer(teacher_dir, advice):
  from kd_ntk.advisor.student import resolve_student  # pylint: disable=g-import-not-at-top

  net = resolve_student(
    "mlp", num_classes=10, input_shape=(28, 28, 1), kwargs={"width": 8}
  )
  custom = advise(
    teacher_dir,
    net.f,
    student_params=net.params,
    **{k: v for k, v in TINY.items() if k != "student_kwargs"},
  )
  assert custom.student == "custom"
  for a, b in zip(custom.scores, advice.scores):
    assert (a.epoch, a.temperature) == (b.epoch, b.temperature)
    assert a.asc == pytest.approx(b.asc, rel=1e-6)


def _one_line_error(err) -> str:
  message = str(err.value)
  assert "\n" not in message
  return message


def test_bad_input_fails_in_one_line_before_work(teacher_dir, tmp_path):
  empty = tmp_path / "no_checkpoints"
  empty.mkdir()
  shutil.copy(os.path.join(teacher_dir, "config.json"), empty / "config.json")
  with pytest.raises(ValueError) as err:
    advise(str(empty), "mlp", **TINY)
  assert "holds no checkpoints" in _one_line_error(err)
  with pytest.raises(FileNotFoundError) as err:
    advise(str(tmp_path / "missing"), "mlp", **TINY)
  assert "does not exist" in _one_line_error(err)

  def three_outputs(params, x):
    return x.reshape(len(x), -1)[:, :3] @ params

  with pytest.raises(ValueError) as err:
    advise(teacher_dir, three_outputs, student_params=jnp.eye(3), n=48)
  assert "outputs shape (3,)" in _one_line_error(err)
  with pytest.raises(ValueError) as err:
    advise(teacher_dir, "mlp", **{**TINY, "temperatures": ()})
  assert "candidate list is empty" in _one_line_error(err)
  with pytest.raises(ValueError) as err:
    advise(teacher_dir, "mlp", epochs=[], **TINY)
  assert "candidate list is empty" in _one_line_error(err)
  with pytest.raises(ValueError) as err:
    advise(teacher_dir, "mlp", epochs=[7], **TINY)
  assert "not saved" in _one_line_error(err)
  with pytest.raises(ValueError) as err:
    advise(teacher_dir, "no_such_net", **TINY)
  assert "unknown student preset" in _one_line_error(err)


def test_launcher_end_to_end(teacher_dir, tmp_path):
  out = str(tmp_path / "advice")
  args = [
    f"--teacher_workdir={teacher_dir}",
    "--student=mlp",
    "--student_kwargs=" + json.dumps({"width": 8}),
    "--temperatures=1,4",
    "--epochs=1,2",
    "--n=48",
    "--n_validation=40",
    f"--out={out}",
  ]
  done = run_script("advise.py", *args)
  assert done.returncode == 0, done.stderr[-2000:]
  assert "Recommended for student `mlp`" in done.stdout
  with open(os.path.join(out, "advice.csv")) as fh:
    assert len(list(csv.DictReader(fh))) == 4
