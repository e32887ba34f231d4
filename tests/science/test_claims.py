"""Claim rules C1–C4 on hand-made complexity rows, in every outcome."""

import numpy as np
import pytest

from kd_ntk.science import c3_trajectory, claims, stats

S, N, C, T = (
  stats.SUPPORTED,
  stats.NO_DIFFERENCE,
  stats.CONTRADICTED,
  stats.NOT_TESTABLE,
)
# Per-subset jitter, a different pattern per kind of target, so that paired
# differences vary over subsets and intervals have a width.
JITTER = {
  "labels": (0.0, 0.02, -0.015),
  "random_labels": (0.03, -0.02, 0.0),
  "teacher": (-0.01, 0.0, 0.025),
}


def _row(
  subset,
  student_epoch,
  target,
  asc,
  teacher_epoch=None,
  tau=None,
  draw=None,
  norm=None,
):
  row = {
    "student_epoch": student_epoch,
    "target": target,
    "teacher_epoch": teacher_epoch,
    "temperature": tau,
    "asc": asc,
    "n": 100,
    "ridge_dominated": False,
    "subset": subset,
  }
  if draw is not None:
    row["draw"] = draw
  if norm is not None:
    row["target_norm"] = norm
  return row


def rows(
  random=3.0,
  labels=2.0,
  teacher=lambda t, tau: (0.5 + 0.3 * t) / tau,
  epochs=(0,),
  epoch_scale=lambda e: 1.0,
  subsets=3,
  draws=2,
  norm=None,
):
  """Complexity rows: labels, random labels (several draws), teacher t=0..3, τ∈{1,2,4}."""
  out = []
  for s in range(subsets):
    j = {kind: pattern[s % 3] for kind, pattern in JITTER.items()}
    for e in epochs:
      k = epoch_scale(e)
      for d in range(
        draws
      ):  # Draws of the same subset are averaged by the rules.
        out.append(
          _row(
            s,
            e,
            "random_labels",
            k * (random + j["random_labels"] + 0.01 * d),
            draw=d,
          )
        )
      out.append(
        _row(
          s,
          e,
          "labels",
          k * (labels + j["labels"]),
          norm=10.0 if norm else None,
        )
      )
      for t in range(4):
        for tau in (1.0, 2.0, 4.0):
          out.append(
            _row(
              s,
              e,
              "teacher",
              k * (teacher(t, tau) + j["teacher"] * t / 3 / tau),
              t,
              tau,
              norm=norm(t, tau) if norm else None,
            )
          )
  return out


def test_c1_all_outcomes():
  assert claims.claim_c1(rows())["outcome"] == S
  assert claims.claim_c1(rows(labels=3.0))["outcome"] == N  # random = labels
  assert (
    claims.claim_c1(rows(labels=0.1))["outcome"] == C
  )  # labels < final teacher
  one = claims.claim_c1(rows(subsets=1))
  assert one["outcome"] == T and "1 paired" in one["comparisons"][0]["reason"]


def test_rows_without_subset_columns_are_one_subset():
  plain = [
    {k: v for k, v in r.items() if k not in ("subset", "draw")}
    for r in rows(subsets=1)
  ]
  assert claims.claim_c1(plain)["outcome"] == T


def test_c1_averages_draws_within_a_subset():
  # Draw 1 of every subset is far lower than labels, draw 0 far higher: the mean
  # per subset (3.0 + j) still beats labels in every subset.
  data = rows(draws=1)
  for r in list(data):
    if r["target"] == "random_labels":
      data.append(dict(r, draw=1, asc=r["asc"] - 1.5))
      r["asc"] += 1.5
  assert claims.claim_c1(data)["outcome"] == S


def test_c2_all_outcomes():
  assert claims.claim_c2(rows())["outcome"] == S
  flat = claims.claim_c2(rows(teacher=lambda t, tau: [1.0, 1.02, 0.99, 1.0][t]))
  assert flat["outcome"] == N
  falling = claims.claim_c2(rows(teacher=lambda t, tau: 2.0 - 0.3 * t))
  assert falling["outcome"] == C
  # Grows overall but checkpoint 0 is clearly above checkpoint 1: not "near minimum".
  dip = claims.claim_c2(rows(teacher=lambda t, tau: [1.0, 0.2, 0.8, 2.0][t]))
  assert dip["outcome"] == C
  assert (
    claims.claim_c2(
      [r for r in rows() if r["target"] != "teacher" or r["teacher_epoch"] < 2]
    )["outcome"]
    == T
  )


def test_norm_matched_variants_need_and_use_target_norm():
  v = {x["claim"]: x for x in claims.complexity_verdicts(rows())}
  assert v["C2n"]["outcome"] == T and "target_norm" in v["C2n"]["note"]
  # Teacher ASC falls with τ only because ‖Y‖_F shrinks: with norms proportional
  # to the ASC the norm-matched values are flat in τ, so C4n finds no difference.
  shrinking = rows(norm=lambda t, tau: 10.0 * (0.5 + 0.3 * t) / tau)
  v = {x["claim"]: x for x in claims.complexity_verdicts(shrinking)}
  assert v["C4"]["outcome"] == S
  assert v["C4n"]["outcome"] != S
  # Norms constant in τ: the fall survives norm matching.
  v = {
    x["claim"]: x
    for x in claims.complexity_verdicts(rows(norm=lambda t, tau: 10.0))
  }
  assert v["C4n"]["outcome"] == S and v["C2n"]["outcome"] == S


def _c3(rows_, **kwargs):
  a, b = claims.claim_c3(rows_, **kwargs)
  assert (a["claim"], b["claim"]) == ("C3a", "C3b")
  return a["outcome"], b["outcome"]


def test_c3_drop_and_rise_are_decided_separately():
  paper = lambda e: [4.0, 1.0, 1.5, 2.0][e]
  epochs = (0, 1, 2, 3)
  assert _c3(rows(epochs=epochs, epoch_scale=paper)) == (S, S)
  no_rise = lambda e: [4.0, 1.0, 1.0, 1.0][e]
  # The drop stands on its own when the rise is flat.
  assert _c3(rows(epochs=epochs, epoch_scale=no_rise)) == (S, N)
  rising = lambda e: [1.0, 1.5, 2.0, 2.5][e]  # No drop: init below the rest.
  assert _c3(rows(epochs=epochs, epoch_scale=rising))[0] == C
  assert _c3(rows(epochs=(0, 1))) == (T, T)
  frozen = claims.claim_c3(
    rows(epochs=epochs, epoch_scale=paper),
    regime_reason="cosine schedule freezes the kernel",
  )
  assert [v["outcome"] for v in frozen] == [T, T]
  assert "freezes" in frozen[0]["note"]


def test_c3_reference_is_chosen_on_the_other_subsets():
  # Subset s dips at inner epoch 1 + s only: each subset's own minimum is its
  # dip, but the other subsets choose a different epoch as its reference.
  data = []
  for s in range(3):
    for e in range(5):
      value = 2.0 - (1.0 + 0.1 * s if e == 1 + s else 0.0)
      data.append(_row(s, e, "labels", value))
  series = {
    e: claims.per_subset(data, target="labels", student_epoch=e)
    for e in range(5)
  }
  refs = c3_trajectory.reference_epochs(series, [1, 2, 3])
  assert all(refs[s] != 1 + s for s in range(3))
  # Subset 0: others' means 1.5, 1.45, 1.4 at epochs 1, 2, 3 -> epoch 3.
  assert refs == {0: 3, 1: 3, 2: 2}
  drop, rise, used, why = c3_trajectory.differences(series, list(range(5)))
  assert not why and used == refs
  # Flat except each subset's own dip: no rise from a reference it did not choose.
  assert rise == pytest.approx({0: 0.0, 1: 0.0, 2: 0.0})
  # One subset: nothing else to choose on.
  one = {e: {0: v[0]} for e, v in series.items()}
  assert "fewer than 2 subsets" in c3_trajectory.differences(one, range(5))[3]


def test_c3_in_pure_noise_finds_no_rise_where_the_same_data_choice_would():
  rng = np.random.default_rng(0)
  epochs = list(range(8))
  biased, honest = [], []
  for trial in range(200):
    series = {e: {s: float(rng.normal()) for s in range(4)} for e in epochs}
    drop, rise, _, _ = c3_trajectory.differences(series, epochs)
    honest.append(float(np.mean(list(rise.values()))))
    # The old rule: the minimum chosen on the tested subsets' own mean.
    mins = {e: np.mean(list(series[e].values())) for e in epochs[1:-1]}
    low = min(mins, key=mins.get)
    biased.append(
      float(np.mean([series[7][s] - series[low][s] for s in range(4)]))
    )
  assert abs(np.mean(honest)) < 0.15  # Unbiased: mean rise ≈ 0 in noise.
  assert np.mean(biased) > 0.5  # Selection on the same data: a spurious rise.


def test_c3_window_fixed_in_the_config():
  paper = lambda e: [4.0, 1.0, 1.5, 2.0][e]
  data = rows(epochs=(0, 1, 2, 3), epoch_scale=paper)
  a, b = claims.claim_c3(data, window=(1, 3))
  assert (a["outcome"], b["outcome"]) == (S, S)
  assert "epoch 1" in a["comparisons"][0]["what"]
  assert "fixed before the run" in a["note"]
  # Rise from epoch 2 to 3 only.
  _, b = claims.claim_c3(data, window=(2, 3))
  assert b["outcome"] == S
  bad = claims.claim_c3(data, window=(3, 2))
  assert (
    bad[0]["outcome"] == T and "c3_window" in bad[0]["comparisons"][0]["reason"]
  )


def test_ridge_dominated_values_make_claims_not_testable():
  data = rows(epochs=(0, 1, 2), epoch_scale=lambda e: [4.0, 1.0, 2.0][e])
  assert claims.claim_c1(data)["outcome"] == S
  for r in data:
    if r["target"] == "labels" and r["subset"] == 1:
      r["ridge_dominated"] = True
  c1 = claims.claim_c1(data)
  assert c1["outcome"] == T
  assert all(c["outcome"] == T for c in c1["comparisons"])
  assert "ridge-dominated ASC" in c1["comparisons"][0]["reason"]
  # Even a comparison that goes against the paper does not give a verdict.
  flipped = rows(labels=0.1)
  assert claims.claim_c1(flipped)["outcome"] == C
  for r in flipped:
    if r["target"] == "random_labels":
      r["ridge_dominated"] = True
  assert claims.claim_c1(flipped)["outcome"] == T
  c3a, c3b = claims.claim_c3(data)
  labels_rows = [
    c for c in c3a["comparisons"] if c["what"].startswith("labels")
  ]
  assert c3a["outcome"] == T and labels_rows[0]["outcome"] == T
  # C2 and C4 read only teacher rows: unaffected by the labels' flag.
  assert claims.claim_c2(data)["outcome"] == S
  for r in data:
    if r["target"] == "teacher" and r["temperature"] == 4.0:
      r["ridge_dominated"] = True
  assert claims.claim_c4(data)["outcome"] == T
  assert claims.claim_c2(data)["outcome"] == S  # τ = 1 only.


def test_c4_all_outcomes():
  assert claims.claim_c4(rows())["outcome"] == S
  flat = rows(teacher=lambda t, tau: 1.0 + 0.3 * t)
  assert claims.claim_c4(flat)["outcome"] == N
  rising = rows(teacher=lambda t, tau: (0.5 + 0.3 * t) * tau)
  assert claims.claim_c4(rising)["outcome"] == C
  assert (
    claims.claim_c4([r for r in rows() if r["temperature"] in (None, 1.0)])[
      "outcome"
    ]
    == T
  )


def test_every_verdict_states_its_rule_and_intervals():
  for v in claims.complexity_verdicts(rows(epochs=(0, 1, 2))):
    assert v["rule"] and v["outcome"] in stats.OUTCOMES
    for c in v["comparisons"]:
      if c["outcome"] != T:
        assert c["low"] <= c["estimate"] <= c["high"]
