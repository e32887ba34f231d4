"""Margin-bound terms on hand-made examples."""

import math

import numpy as np
import pytest

from kd_ntk.complexity import bound

# Four examples, three classes.
STUDENT = np.array(
  [
    [3.0, 1.0, 0.0],  # ρ wrt label 0: 2.0
    [0.0, 2.0, 2.5],  # ρ wrt label 1: -0.5; wrt 2: 0.5
    [1.0, 1.0, 0.0],  # ρ wrt label 1: 0.0 (tie)
    [0.0, 0.2, 1.0],
  ]
)  # ρ wrt label 2: 0.8; wrt 1: -0.8
LABELS = np.array([0, 1, 1, 2])
# Teacher predicts 0, 2, 1, 1: wrong on examples 1 and 3.
TEACHER = np.array(
  [[5.0, 0.0, 0.0], [0.0, 1.0, 4.0], [0.0, 3.0, 0.0], [0.0, 2.0, 1.0]]
)


def test_margins_on_hand_made_logits():
  np.testing.assert_allclose(
    bound.margins(STUDENT, LABELS), [2.0, -0.5, 0.0, 0.8]
  )
  np.testing.assert_allclose(
    bound.margins(STUDENT, [0, 2, 0, 1]), [2.0, 0.5, 0.0, -0.8]
  )


def test_bound_terms_split_on_hand_made_example():
  sc, trace_k, n, gamma, delta = 9.0, 16.0, 4, 0.6, 0.05
  terms = bound.bound_terms(
    STUDENT,
    LABELS,
    TEACHER,
    sc=sc,
    trace_k=trace_k,
    n=n,
    gamma=gamma,
    delta=delta,
    class_constant="unit",
  )
  # ρ wrt labels: [2, -0.5, 0, 0.8] → ≤ 0.6 for examples 1 and 2.
  assert terms.margin_loss == 0.5
  assert terms.teacher_error == 0.5
  # ρ wrt teacher labels [0, 2, 1, 1]: [2, 0.5, 0, -0.8] → ≤ 0.6 for 1, 2, 3.
  assert terms.margin_loss_wrt_teacher == 0.75
  assert terms.complexity_term == pytest.approx(
    2 / (0.6 * 4) * math.sqrt(9 * 16)
  )
  assert terms.confidence_term == pytest.approx(3 * math.sqrt(math.log(40) / 8))
  assert terms.total == pytest.approx(
    0.5 + terms.complexity_term + terms.confidence_term
  )
  assert terms.total_via_teacher == pytest.approx(
    1.25 + terms.complexity_term + terms.confidence_term
  )
  assert terms.class_constant == 1.0 and terms.class_constant_name == "unit"


def test_margin_loss_never_exceeds_teacher_split():
  rng = np.random.default_rng(0)
  for _ in range(20):
    student, teacher = rng.standard_normal((2, 50, 4))
    labels = rng.integers(0, 4, 50)
    terms = bound.bound_terms(
      student, labels, teacher, sc=1.0, trace_k=1.0, n=50, gamma=0.3
    )
    assert (
      terms.margin_loss <= terms.teacher_error + terms.margin_loss_wrt_teacher
    )
    assert terms.total <= terms.total_via_teacher


def test_split_is_exact_for_a_perfect_teacher():
  perfect_teacher = np.eye(3)[LABELS] * 10
  terms = bound.bound_terms(
    STUDENT, LABELS, perfect_teacher, sc=1.0, trace_k=1.0, n=4, gamma=0.6
  )
  assert terms.teacher_error == 0.0
  assert terms.margin_loss_wrt_teacher == terms.margin_loss


def test_class_constant_conventions():
  args = (STUDENT, LABELS, TEACHER)
  sizes = dict(sc=9.0, trace_k=16.0, n=4, gamma=0.6)
  unit = bound.bound_terms(*args, **sizes, class_constant="unit")
  default = bound.bound_terms(*args, **sizes)
  assert bound.DEFAULT_CLASS_CONSTANT == "two_c"
  assert (
    default.class_constant == 6.0 and default.class_constant_name == "two_c"
  )
  assert default.complexity_term == pytest.approx(6.0 * unit.complexity_term)
  custom = bound.bound_terms(*args, **sizes, class_constant=2.5)
  assert custom.complexity_term == pytest.approx(2.5 * unit.complexity_term)
  assert custom.class_constant_name == "custom"
  with pytest.raises(ValueError, match="class_constant"):
    bound.bound_terms(*args, **sizes, class_constant="three")


def test_without_teacher_the_split_is_nan():
  terms = bound.bound_terms(
    STUDENT, LABELS, None, sc=1.0, trace_k=1.0, n=4, gamma=0.6
  )
  assert math.isnan(terms.teacher_error) and math.isnan(terms.total_via_teacher)
  assert terms.margin_loss == 0.5
  assert set(terms.as_dict()) >= {"margin_loss", "complexity_term", "total"}


@pytest.mark.parametrize(
  "kwargs,message",
  [
    ({"gamma": 0.0}, "gamma"),
    ({"gamma": -1.0}, "gamma"),
    ({"delta": 1.0}, "delta"),
    ({"delta": 0.0}, "delta"),
    ({"sc": -1.0}, "sc"),
    ({"sc": math.nan}, "sc"),
    ({"trace_k": 0.0}, "trace_k"),
    ({"n": 0}, "n must be"),
    ({"labels": np.array([0, 1, 1])}, "shape"),
    ({"labels": np.array([0, 1, 1, 3])}, r"\[0, 3\)"),
    ({"labels": LABELS.astype(float)}, "integers"),
    ({"teacher_logits_NxC": TEACHER[:, :2]}, "teacher_logits_NxC"),
    ({"student_logits_NxC": STUDENT[:, :1]}, "C ≥ 2"),
    ({"student_logits_NxC": STUDENT * np.nan}, "NaN"),
  ],
)
def test_bad_inputs_raise(kwargs, message):
  args = {
    "student_logits_NxC": STUDENT,
    "labels": LABELS,
    "teacher_logits_NxC": TEACHER,
    "sc": 1.0,
    "trace_k": 1.0,
    "n": 4,
    "gamma": 0.5,
    "delta": 0.05,
  }
  args.update(kwargs)
  with pytest.raises(ValueError, match=message):
    bound.bound_terms(**args)


def test_margin_equal_to_gamma_counts_as_a_margin_error():
  # ρ wrt teacher labels [2, 0.5, 0, -0.8]; 1[ρ ≤ γ] at γ = 0.5 counts example 1.
  terms = bound.bound_terms(
    STUDENT, LABELS, TEACHER, sc=1.0, trace_k=1.0, n=4, gamma=0.5
  )
  assert terms.margin_loss_wrt_teacher == 0.75
  # ρ wrt labels [2, -0.5, 0, 0.8]; at γ = 0.8 example 3 counts too.
  assert bound.margins(STUDENT, LABELS)[3] == 0.8
  at_last_margin = bound.bound_terms(
    STUDENT, LABELS, TEACHER, sc=1.0, trace_k=1.0, n=4, gamma=0.8
  )
  assert at_last_margin.margin_loss == 0.75
