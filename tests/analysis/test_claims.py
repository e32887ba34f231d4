"""Claim rules C1–C4 on hand-made complexity rows, in every outcome."""

from kd_ntk.analysis import claims, stats

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


def test_c3_all_outcomes():
  paper = lambda e: [4.0, 1.0, 1.5, 2.0][e]
  epochs = (0, 1, 2, 3)
  assert claims.claim_c3(rows(epochs=epochs, epoch_scale=paper))["outcome"] == S
  no_rise = lambda e: [4.0, 1.0, 1.0, 1.0][e]
  assert (
    claims.claim_c3(rows(epochs=epochs, epoch_scale=no_rise))["outcome"] == N
  )
  rising = lambda e: [1.0, 1.5, 2.0, 2.5][
    e
  ]  # No drop: init below the inner epochs.
  assert (
    claims.claim_c3(rows(epochs=epochs, epoch_scale=rising))["outcome"] == C
  )
  assert claims.claim_c3(rows(epochs=(0, 1)))["outcome"] == T
  frozen = claims.claim_c3(
    rows(epochs=epochs, epoch_scale=paper),
    regime_reason="cosine schedule freezes the kernel",
  )
  assert frozen["outcome"] == T and "freezes" in frozen["note"]


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
