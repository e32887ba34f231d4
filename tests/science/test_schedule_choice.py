"""The schedule-choice rule on hand-made validation scores."""

import pytest

from kd_ntk.science import schedule_choice


def test_quieter_form_wins_when_not_detectably_worse():
  acc = {
    "constant": {0: 0.80, 1: 0.76, 2: 0.83, 3: 0.78},  # SD ≈ 0.030
    "step": {0: 0.800, 1: 0.795, 2: 0.805, 3: 0.790},  # SD ≈ 0.006
  }
  choice, lines = schedule_choice.choose(acc)
  assert choice == "step"
  sds = {x["form"]: x["seed_sd"] for x in lines if x["what"] == "form"}
  assert sds["step"] < sds["constant"]
  assert lines[-1]["eligible"] == ["constant", "step"]


def test_a_form_detectably_below_the_best_is_not_eligible():
  acc = {
    "constant": {0: 0.80, 1: 0.78, 2: 0.82, 3: 0.79},
    "cosine_floor": {0: 0.700, 1: 0.702, 2: 0.701, 3: 0.699},  # Quiet, worse.
  }
  choice, lines = schedule_choice.choose(acc)
  assert choice == "constant"
  assert lines[-1]["eligible"] == ["constant"]
  paired = [x for x in lines if x["what"] == "paired"]
  assert paired[0]["outcome"] == "contradicted" and paired[0]["mde"] > 0


def test_too_few_common_seeds_are_refused():
  with pytest.raises(ValueError, match=">= 2 seeds common"):
    schedule_choice.choose({"a": {0: 0.5, 1: 0.6}, "b": {1: 0.5, 2: 0.4}})


def test_end_jitter_ranks_the_eligible_forms_when_given():
  acc = {
    "constant": {0: 0.80, 1: 0.70, 2: 0.79, 3: 0.78},  # Seed 1 low everywhere.
    "step": {0: 0.80, 1: 0.69, 2: 0.80, 3: 0.78},
  }
  jitter = {
    "constant": {s: 0.008 for s in range(4)},
    "step": {s: 0.001 for s in range(4)},
  }
  by_sd, _ = schedule_choice.choose(acc)
  by_jitter, lines = schedule_choice.choose(acc, jitter=jitter)
  assert (by_sd, by_jitter) == ("constant", "step")
  forms = {x["form"]: x for x in lines if x["what"] == "form"}
  assert forms["step"]["end_jitter"] == pytest.approx(0.001)
