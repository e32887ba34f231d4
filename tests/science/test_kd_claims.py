"""Claim rules C5–C8 on hand-made per-seed rows, in every outcome, and renames."""

import dataclasses

import pytest

from kd_ntk.grid import records
from kd_ntk.science import kd_claims, stats
from kd_ntk.science.verdicts import not_testable

S, N, C, T = (
  stats.SUPPORTED,
  stats.NO_DIFFERENCE,
  stats.CONTRADICTED,
  stats.NOT_TESTABLE,
)
NOISE = (
  0.004,
  -0.003,
  0.0,
  0.002,
  -0.001,
)  # Per-seed noise shared by both arms.
WOBBLE = (0.001, -0.002, 0.002, 0.0, -0.001)  # Per-seed noise of one arm only.

METHODS = {
  "labels": {"mode": "none"},
  "offline_t4": {"mode": "offline", "temperature": 4.0},
  "early_t4": {"mode": "early", "temperature": 4.0},
  "online_t4": {"mode": "online", "temperature": 4.0},
}
STUDENTS = {
  "small": {"family": "cnn", "width": 2},
  "mid": {"family": "cnn", "width": 4},
  "big": {"family": "cnn", "width": 8},
}


def make_rows(
  gap_by_width=None,
  early=0.0,
  seeds=5,
  methods=METHODS,
  students=STUDENTS,
  binary_gain=0.02,
  fidelity_gap=0.02,
  margin_gap=0.02,
):
  """Rows where online − offline accuracy = gap_by_width[width] (+ wobble)."""
  gap_by_width = gap_by_width or {2: 0.03, 4: 0.01, 8: 0.0}
  out = []
  for student in records.students_from_config(students):
    for method in records.methods_from_config(methods):
      for seed in range(seeds):
        base = 0.7 + 0.02 * student.width + NOISE[seed]
        online = method.mode == "online"
        gain = {
          "online": gap_by_width[student.width] + WOBBLE[seed],
          "early": early + WOBBLE[seed],
          "none": -0.05,
        }.get(method.mode, 0.0)
        metrics = {
          "test_accuracy": base + gain,
          "train_fidelity_final": 0.9 + (fidelity_gap + WOBBLE[seed]) * online,
          "train_margin_loss_final": 0.2 - (margin_gap + WOBBLE[seed]) * online,
        }
        out.append(
          records.result_row("main", student, method, seed, metrics=metrics)
        )
        if student.width == 2:
          binary = {
            "test_accuracy": 0.8
            + NOISE[seed]
            + (binary_gain + WOBBLE[seed]) * (method.mode != "none")
          }
          out.append(
            records.result_row("binary", student, method, seed, metrics=binary)
          )
  return out


def outcomes(rows, **kwargs):
  kwargs.setdefault("binary_primary", {"mode": "online", "temperature": 4.0})
  return {
    v["claim"]: v["outcome"] for v in kd_claims.kd_verdicts(rows, **kwargs)
  }


def test_all_supported_on_paper_shaped_rows():
  assert outcomes(make_rows(early=0.02)) == {
    "C5a": S,
    "C5b": S,
    "C6": S,
    "C7": S,
    "C8": S,
  }


def test_contradicted_when_the_numbers_go_the_other_way():
  rows = make_rows(
    {2: -0.03, 4: -0.01, 8: 0.0},
    early=-0.02,
    binary_gain=-0.02,
    fidelity_gap=-0.02,
    margin_gap=0.0,
  )
  assert outcomes(rows) == {"C5a": C, "C5b": C, "C6": C, "C7": C, "C8": C}


def test_no_detectable_difference_when_effects_are_within_seed_noise():
  rows = make_rows(
    {2: 0.0, 4: 0.0, 8: 0.0},
    early=0.0,
    binary_gain=0.0,
    fidelity_gap=0.0,
    margin_gap=0.0,
  )
  assert outcomes(rows) == {"C5a": N, "C5b": N, "C6": N, "C7": N, "C8": N}


def test_not_testable_with_one_seed_one_width_or_final_checkpoint():
  one_seed = outcomes(make_rows(seeds=1))
  assert set(one_seed.values()) == {T}
  one_width = outcomes(
    make_rows(students={"small": {"family": "cnn", "width": 2}})
  )
  assert one_width["C5b"] == T and one_width["C5a"] == S
  same = outcomes(
    make_rows(early=0.02), early_selected=30, teacher_final_epoch=30
  )
  assert same["C6"] == T


def test_diverged_seed_is_dropped_from_both_arms_not_counted_as_chance():
  rows = make_rows()
  for r in rows:
    if r["mode"] == "online" and r["seed"] == 0 and r["task"] == "main":
      r.update(diverged=True, test_accuracy=0.1)
  c5a = kd_claims.claim_c5(rows)[0]
  assert (
    c5a["comparisons"][0]["n"] == 4
    and "0" not in c5a["comparisons"][0]["differences"]
  )
  assert c5a["outcome"] == S


def test_renaming_methods_and_students_leaves_verdicts_unchanged():
  renamed_methods = {
    f"method {i} renamed": spec
    for i, spec in enumerate(reversed(list(METHODS.values())))
  }
  renamed_students = {
    "zz": STUDENTS["big"],
    "aa": STUDENTS["small"],
    "mm": STUDENTS["mid"],
  }
  before = kd_claims.kd_verdicts(
    make_rows(early=0.02), binary_primary={"mode": "online", "temperature": 4.0}
  )
  after = kd_claims.kd_verdicts(
    make_rows(early=0.02, methods=renamed_methods, students=renamed_students),
    binary_primary={"mode": "online", "temperature": 4.0},
  )
  assert before == after  # Names, order and list positions play no part.


def test_records_validate_and_name_directories_by_fields():
  m = records.TeachingMethod("anything", "online", 4.0, 0.0)
  assert m.slug == "online-tau4-alpha0" and m.checkpoint == "trajectory"
  assert dataclasses.replace(m, name="other").slug == m.slug
  with pytest.raises(ValueError, match="needs a temperature"):
    records.TeachingMethod("x", "offline")
  with pytest.raises(ValueError, match="mode must be one of"):
    records.methods_from_config({"x": {"mode": "offline_t4"}})
  with pytest.raises(ValueError, match="same mode, temperature and alpha"):
    records.methods_from_config({"a": {"mode": "none"}, "b": {"mode": "none"}})
  with pytest.raises(ValueError, match="family must be one of"):
    records.students_from_config({"s": {"family": "vit", "width": 1}})
  assert records.Student("s", "lenet5", 2).model() == (
    "lenet5",
    {"width_multiplier": 2},
  )


def test_untestable_claims_share_one_block_with_the_reason_as_note():
  no_pairs = [r for r in make_rows() if r["mode"] in ("none", "offline")]
  verdicts = {
    v["claim"]: v
    for v in kd_claims.kd_verdicts(
      no_pairs, binary_primary={"mode": "online", "temperature": 4.0}
    )
  }
  for claim in ("C5a", "C5b", "C6", "C7"):
    v = verdicts[claim]
    assert v["outcome"] == T
    assert v["note"] == v["comparisons"][0]["reason"] != ""
    assert v == not_testable(claim, v["prediction"], v["rule"], v["note"])


def test_c8_states_the_arms_step_sizes():
  rows = make_rows()
  primary = {"mode": "online", "temperature": 4.0}
  note = kd_claims.claim_c8(rows, primary, lr_scale="inverse_tau")["note"]
  assert "η/4" in note and "differ" in note
  note2 = kd_claims.claim_c8(rows, primary, lr_scale="inverse_tau_squared")
  assert "η/16" in note2["note"]
  same = kd_claims.claim_c8(rows, primary, lr_scale="none")["note"]
  assert "same peak learning rate" in same
  assert "not recorded" in kd_claims.claim_c8(rows, primary)["note"]


def test_accuracy_comparisons_carry_their_detectable_effect():
  from kd_ntk.science import power

  c5a = kd_claims.claim_c5(make_rows())[0]["comparisons"][0]
  assert c5a["mde"] == pytest.approx(
    power.minimum_detectable_effect(c5a["sd"], c5a["n"])
  )
  # The online arm alone wobbles: the paired SD is WOBBLE's.
  mean = sum(WOBBLE) / 5
  sd = (sum((w - mean) ** 2 for w in WOBBLE) / 4) ** 0.5
  assert c5a["sd"] == pytest.approx(sd, rel=1e-6)
