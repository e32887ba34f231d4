"""Claim verdicts on hand-made rows: each rule can pass and can fail."""

from kd_ntk.analysis import claims, kd_claims


def _rows(asc_by_key):
  rows = []
  for (student_epoch, target, teacher_epoch, tau), asc in asc_by_key.items():
    rows.append({"student_epoch": student_epoch, "target": target,
                 "teacher_epoch": teacher_epoch, "temperature": tau, "asc": asc,
                 "ridge_dominated": False})
  return rows


def _paper_like(drop=True):
  data = {}
  for e, scale in zip(range(4), ([4.0, 1.0, 1.5, 2.0] if drop else [1.0, 1.5, 2.0, 2.5])):
    data[(e, "random_labels", None, None)] = 1.2 * scale
    data[(e, "labels", None, None)] = 1.0 * scale
    for t in range(4):
      for tau in (1.0, 4.0):
        data[(e, "teacher", t, tau)] = scale * (0.2 + 0.2 * t) / tau
  return _rows(data)


def test_complexity_claims_pass_on_paper_shaped_rows():
  verdicts = {v["claim"]: v for v in claims.complexity_verdicts(_paper_like())}
  assert [verdicts[c]["passed"] for c in ("C1", "C2", "C3", "C4")] == [True] * 4


def test_complexity_claims_fail_when_shape_differs():
  rows = _paper_like(drop=False)
  assert claims.claim_c3(rows)["passed"] is False
  for r in rows:  # Make labels simpler than the teacher: C1 must fail.
    if r["target"] == "labels":
      r["asc"] = 0.01
  assert claims.claim_c1(rows)["passed"] is False
  flipped = [dict(r, asc=1.0 / r["asc"]) if r["target"] == "teacher" else r for r in rows]
  assert claims.claim_c2(flipped)["passed"] is False
  assert claims.claim_c4(flipped)["passed"] is False


def test_c3_undecided_with_one_kernel():
  rows = [r for r in _paper_like() if r["student_epoch"] == 0]
  assert claims.claim_c3(rows)["passed"] is None


def _results(online, offline, early=0.5):
  row = lambda acc: {"test_accuracy": acc, "train_fidelity_final": acc,
                     "train_margin_final": acc}
  per = lambda acc: [row(acc - 0.01), row(acc + 0.01)]
  return {"small": {"online_t4": per(online), "offline_t4": per(offline),
                    "early_t4": per(early), "no_kd": per(0.6)}}


def test_kd_claims_follow_the_numbers():
  assert kd_claims.claim_c5(_results(0.8, 0.7), ["small"], taus=("t4",))["passed"] is True
  assert kd_claims.claim_c5(_results(0.7, 0.8), ["small"], taus=("t4",))["passed"] is False
  assert kd_claims.claim_c6(_results(0.8, 0.7, early=0.75), "small")["passed"] is True
  assert kd_claims.claim_c6(_results(0.8, 0.7, early=0.65), "small")["passed"] is False
  assert kd_claims.claim_c7(_results(0.8, 0.7), ["small"], taus=("t4",))["passed"] is True
  assert kd_claims.claim_c8(_results(0.8, 0.7), "small", ["online_t4"])["passed"] is True
  assert kd_claims.claim_c8(_results(0.5, 0.4), "small", ["online_t4"])["passed"] is False


def test_diverged_runs_are_not_averaged_in():
  results = {"s": {"online_t4": [{"diverged": True}], "offline_t4": [{"test_accuracy": 0.5}]}}
  assert kd_claims.claim_c5(results, ["s"], taus=("t4",))["passed"] is None
