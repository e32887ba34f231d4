"""Each score on hand-built kernels with known answers: a teacher whose targets
equal the labels, and one whose targets are uniform."""

import math

import numpy as np
import pytest

from kd_ntk import complexity
from kd_ntk.advisor import scores
from kd_ntk.advisor.kernel import StudentKernel

N, C, RIDGE = 40, 4, 1e-3
LABELS = np.arange(N) % C


def _identity_kernel(m=12):
  # K = I on X; V = the first m examples of X, so K_V = the first m rows of I.
  return StudentKernel(np.eye(N), np.eye(N)[:m], RIDGE)


def _all_scores(kernel, targets, teacher_logits=None, val_labels=None):
  alpha = kernel.solve(targets)
  row = scores.complexity_scores(kernel, targets, alpha)
  teacher = teacher_logits if teacher_logits is not None else targets
  fit = kernel.predict_train(alpha)
  row.update(scores.bound_scores(kernel, fit, LABELS, teacher, sc=row["sc"]))
  labels_v = LABELS[: len(kernel.cross)] if val_labels is None else val_labels
  row.update(
    scores.linearised_student_scores(kernel.predict_validation(alpha), labels_v)
  )
  return row


def test_labels_as_targets():
  kernel = _identity_kernel()
  row = _all_scores(kernel, complexity.one_hot(LABELS, C))
  # λ = ridge·tr(I)/n = ridge: α = Y/(1+λ), SC = n/(1+λ), ASC = 1/sqrt(1+λ).
  assert row["sc"] == pytest.approx(N / (1 + RIDGE))
  assert row["asc"] == pytest.approx(1 / math.sqrt(1 + RIDGE))
  assert row["asc_norm_matched"] == pytest.approx(row["asc"])  # ‖Y‖_F = sqrt(n)
  # Predictions Y/(1+λ): margins 1/(1+λ) > γ everywhere, all correct.
  assert row["krr_accuracy"] == 1.0 and row["krr_margin_loss"] == 0.0
  assert row["bound_margin_loss"] == 0.0
  # Complexity term (2/(γn))·sqrt(SC·n)·2C and confidence 3·sqrt(ln(2/δ)/2n).
  expected = 2 / (0.1 * N) * math.sqrt(row["sc"] * N) * 2 * C
  assert row["bound_complexity"] == pytest.approx(expected)
  assert row["bound_total"] == pytest.approx(
    expected + 3 * math.sqrt(math.log(2 / 0.05) / (2 * N))
  )


def test_uniform_targets():
  kernel = _identity_kernel()
  row = _all_scores(kernel, np.full((N, C), 1 / C))
  # SC = n·C/C²/(1+λ): ASC = 1/sqrt(C(1+λ)); norm-matched back to 1/sqrt(1+λ).
  assert row["asc"] == pytest.approx(1 / math.sqrt(C * (1 + RIDGE)))
  assert row["asc_norm_matched"] == pytest.approx(1 / math.sqrt(1 + RIDGE))
  # Equal predictions for every class: margin 0 ≤ γ for every example.
  assert row["krr_margin_loss"] == 1.0 and row["bound_margin_loss"] == 1.0


def test_linearised_student_reads_the_cross_kernel():
  # V's first example looks like X_1 (label 1) and its second like X_2 (label 2).
  cross = np.zeros((2, N))
  cross[0, 1], cross[1, 2] = 1.0, 1.0
  kernel = StudentKernel(np.eye(N), cross, RIDGE)
  targets = complexity.one_hot(LABELS, C)
  alpha = kernel.solve(targets)
  prediction = kernel.predict_validation(alpha)
  out = scores.linearised_student_scores(prediction, np.array([1, 3]))
  assert out["krr_accuracy"] == 0.5  # right for the first, wrong for the second
  assert out["krr_margin_loss"] == 0.5
  assert math.isnan(
    scores.linearised_student_scores(prediction[:0], np.array([], int))[
      "krr_accuracy"
    ]
  )


def test_one_factorisation_matches_supervision_complexity():
  rng = np.random.default_rng(0)
  features = rng.normal(size=(N, 8))
  gram = features @ features.T + 0.1 * np.eye(N)
  kernel = StudentKernel(gram, np.zeros((0, N)), 1e-4)
  for targets in (complexity.one_hot(LABELS, C), rng.dirichlet(np.ones(C), N)):
    reference = complexity.supervision_complexity(
      targets, gram, ridge=1e-4, ridge_path=()
    )
    alpha = kernel.solve(targets)
    row = scores.complexity_scores(kernel, targets, alpha)
    assert row["sc"] == pytest.approx(reference.sc, rel=1e-9)
    assert row["asc"] == pytest.approx(reference.asc, rel=1e-9)


def test_baselines():
  logits = np.eye(C)[LABELS[:12]] * 5.0
  logits[0] = [0, 0, 0, 9]  # one mistake out of 12
  out = scores.baseline_scores(
    logits, LABELS[:12], complexity.one_hot(LABELS, C), LABELS
  )
  assert out["teacher_accuracy"] == pytest.approx(11 / 12)
  assert out["target_accuracy"] == 1.0


def test_kernel_rejects_bad_input_and_grows_a_failing_ridge():
  with pytest.raises(ValueError, match="square"):
    StudentKernel(np.zeros((3, 2)), np.zeros((0, 2)))
  with pytest.raises(ValueError, match="trace"):
    StudentKernel(np.zeros((3, 3)), np.zeros((0, 3)))
  # An indefinite K (an eigenvalue −1e-3 of tr K = 1): the ridge grows until
  # K + λI factorises, and the ridge used says so.
  gram = np.diag([1.0, 1e-3, -1e-3])
  kernel = StudentKernel(gram, np.zeros((0, 3)), 1e-6)
  assert kernel.ridge > 1e-6 and kernel.ridge_absolute > 1e-3
