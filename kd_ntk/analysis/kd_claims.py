"""Pass/fail verdicts of claims C5–C8 from the students' final metrics.

`results[student][method]` is a list over seeds of a run's last metrics row
(keys as written by `kd_ntk.distill.loop`). A difference smaller than the
larger of the two seed standard deviations is called "within noise" in the
numbers; the verdict still follows the stated rule, so the reader sees both.
"""

from typing import Dict, List, Sequence

import numpy as np

from kd_ntk.analysis.claims import verdict


def _values(results, student, method, key) -> np.ndarray:
  rows = results.get(student, {}).get(method, [])
  return np.asarray([r[key] for r in rows if r.get(key) is not None], float)


def _compare(results, student, better, worse, key) -> Dict:
  a, b = _values(results, student, better, key), _values(results, student, worse, key)
  if not len(a) or not len(b):
    return {}
  diff = float(a.mean() - b.mean())
  return {"student": student, better: round(float(a.mean()), 5),
          worse: round(float(b.mean()), 5), "difference": round(diff, 5),
          "within_noise": bool(abs(diff) < max(a.std(), b.std()))}


def claim_c5(results, students_small_to_large: Sequence[str],
             taus: Sequence[str] = ("t1", "t4")) -> Dict:
  """Online ≥ offline test accuracy at each τ; the gap larger for the smaller student."""
  comparisons, holds = [], []
  for tau in taus:
    for student in students_small_to_large:
      c = _compare(results, student, f"online_{tau}", f"offline_{tau}", "test_accuracy")
      if c:
        comparisons.append({"tau": tau, **c})
        holds.append(c["difference"] >= 0)
  gaps = {}
  for tau in taus:
    per = [c["difference"] for s in students_small_to_large for c in comparisons
           if c["student"] == s and c["tau"] == tau]
    if len(per) == len(students_small_to_large) >= 2:
      gaps[tau] = per[0] > per[-1]
  numbers = {"comparisons": comparisons, "gap_larger_for_smaller_student": gaps}
  passed = (all(holds) and all(gaps.values())) if holds else None
  note = "" if gaps else "gap trend not tested: needs two students at the same τ"
  return verdict("C5", "Online ≥ offline test accuracy for every student and τ, and the "
                 "online−offline gap is larger for the smaller student", passed, numbers,
                 note)


def claim_c6(results, smallest_student: str) -> Dict:
  """The early-stopped teacher beats the final teacher (τ=4) for the smallest student."""
  c = _compare(results, smallest_student, "early_t4", "offline_t4", "test_accuracy")
  return verdict("C6", "For the smallest student, the early-stopped teacher (τ=4) gives "
                 "higher test accuracy than the final teacher (τ=4)",
                 c["difference"] > 0 if c else None, c)


def claim_c7(results, students: Sequence[str], taus=("t1", "t4")) -> Dict:
  """Online has higher train fidelity and train margin w.r.t. the final teacher."""
  comparisons, holds = [], []
  for key in ("train_fidelity_final", "train_margin_final"):
    for tau in taus:
      for student in students:
        c = _compare(results, student, f"online_{tau}", f"offline_{tau}", key)
        if c:
          comparisons.append({"metric": key, "tau": tau, **c})
          holds.append(c["difference"] > 0)
  return verdict("C7", "Online distillation ends with higher train fidelity (top-1 "
                 "agreement) and higher student margin w.r.t. the final teacher than "
                 "offline, for every student and τ", all(holds) if holds else None,
                 {"comparisons": comparisons})


def claim_c8(binary_results, student: str, kd_methods: Sequence[str]) -> Dict:
  """On a two-class task, the best distillation method beats training on labels."""
  base = _values(binary_results, student, "no_kd", "test_accuracy")
  best, best_mean = None, -np.inf
  for method in kd_methods:
    vals = _values(binary_results, student, method, "test_accuracy")
    if len(vals) and vals.mean() > best_mean:
      best, best_mean = method, float(vals.mean())
  if best is None or not len(base):
    return verdict("C8", "Distillation helps on a binary task", None, {})
  c = _compare(binary_results, student, best, "no_kd", "test_accuracy")
  return verdict("C8", "On a binary task, the best distillation method's test accuracy "
                 "exceeds training on labels alone", c["difference"] > 0, c)


def kd_verdicts(results, binary_results, students_small_to_large: List[str],
                binary_student: str, binary_methods: Sequence[str]) -> List[Dict]:
  return [claim_c5(results, students_small_to_large),
          claim_c6(results, students_small_to_large[0]),
          claim_c7(results, students_small_to_large),
          claim_c8(binary_results, binary_student, binary_methods)]
