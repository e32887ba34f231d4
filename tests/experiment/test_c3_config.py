"""C3's dedicated kernel-trajectory run: its config, and the claim on rows of
its shape (14 student kernels, 3 disjoint subsets)."""

import numpy as np

from kd_ntk.experiment import complexity_inputs, complexity_runs
from kd_ntk.science import claims
from kd_ntk.experiment.reproduction_plan import plan_of
from kd_ntk.configs import reproduce as reproduce_config


def test_the_c3_config_asks_for_a_long_constant_run_and_many_kernels():
  c = reproduce_config.get_config("c3")
  s = c.students_run
  assert s.epochs >= 150 and s.schedule == "constant"
  kernels = complexity_runs.strided(s.epochs, c.complexity.student_epoch_stride)
  assert len(kernels) >= 12 and kernels[0] == 0 and kernels[-1] == s.epochs
  assert c.complexity.num_subsets >= 3 and c.complexity.trajectory
  # The subsets fit disjointly in the training subset (refused otherwise).
  labels = np.repeat(np.arange(10), c.teacher.train_subset // 10)
  subsets = complexity_inputs.ntk_subsets(
    labels,
    c.complexity.num_examples,
    num_subsets=c.complexity.num_subsets,
    seed=0,
    num_classes=10,
  )
  assert len(set(np.concatenate(subsets))) == sum(map(len, subsets))
  # The reproduction accepts it and can test C3 in it.
  assert plan_of(c).claims.c3_reason == ""
  assert c.complexity.c3_window == ()


def _trajectory_rows(epochs, subsets=3):
  """ASC high at init, a minimum near 20% of training, then a slow rise."""
  rng = np.random.default_rng(0)
  last = epochs[-1]
  out = []
  for s in range(subsets):
    for e in epochs:
      shape = 1.0 + 3.0 * np.exp(-e / 6.0) + 0.5 * max(e - 0.2 * last, 0) / last
      for target, scale in (("random_labels", 3.0), ("labels", 2.0)):
        out.append(
          {
            "subset": s,
            "student_epoch": float(e),
            "target": target,
            "teacher_epoch": None,
            "temperature": None,
            "asc": scale * shape + rng.normal(0, 0.01),
            "ridge_dominated": False,
          }
        )
      out.append(
        {
          "subset": s,
          "student_epoch": float(e),
          "target": "teacher",
          "teacher_epoch": 30.0,
          "temperature": 1.0,
          "asc": 1.0 * shape + rng.normal(0, 0.01),
          "ridge_dominated": False,
        }
      )
  return out


def test_claims_on_rows_shaped_like_the_c3_run():
  c = reproduce_config.get_config("c3")
  epochs = complexity_runs.strided(
    c.students_run.epochs, c.complexity.student_epoch_stride
  )
  rows = _trajectory_rows(epochs)
  verdicts = {
    v["claim"]: v
    for v in claims.complexity_verdicts(rows, c3_window=c.complexity.c3_window)
  }
  assert verdicts["C3a"]["outcome"] == "supported"
  assert verdicts["C3b"]["outcome"] == "supported"
  window = claims.claim_c3(rows, window=(36, 150))
  assert [v["outcome"] for v in window] == ["supported", "supported"]


def test_online_teacher_series_follows_the_online_map():
  from kd_ntk.science import c3_trajectory

  rows = []
  for e in (0, 12, 150):
    for t in range(31):
      rows.append(
        {
          "subset": 0,
          "student_epoch": float(e),
          "target": "teacher",
          "teacher_epoch": float(t),
          "temperature": 1.0,
          "asc": 100.0 * e + t,  # Encodes (student epoch, checkpoint).
        }
      )
  series = c3_trajectory.online_teacher_series(rows)
  # ⌈e·30/150⌉: epoch 0 -> checkpoint 0, 12 -> 3 (2.4 rounded up), 150 -> 30.
  assert series == {"0": 0.0, "12": 1203.0, "150": 15030.0}
