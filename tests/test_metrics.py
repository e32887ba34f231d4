"""kd_ntk.metrics against hand-computed values and brute-force oracles."""

import numpy as np
import pytest

from kd_ntk import metrics


def test_accuracy_and_fidelity():
  logits = np.array(
    [[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]]
  )
  assert metrics.accuracy(logits, [0, 1, 0, 0]) == pytest.approx(0.75)
  teacher = np.array(
    [[0.0, 9.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
  )
  # Student predicts (0, 1, 2, 0); teacher (1, 1, 2, 1): agreement on 2 of 4.
  assert metrics.fidelity(logits, teacher) == pytest.approx(0.5)


def test_margins_by_hand():
  logits = np.array([[3.0, 1.0, 2.0], [3.0, 1.0, 2.0], [0.5, 0.5, 0.0]])
  rho = metrics.margins(logits, [0, 1, 0])
  np.testing.assert_allclose(rho, [1.0, -2.0, 0.0])
  assert metrics.mean_margin(logits, [0, 1, 0]) == pytest.approx(-1.0 / 3.0)


def test_kl_closed_form_and_properties():
  rng = np.random.default_rng(0)
  zt, zs = rng.normal(size=(5, 4)) * 3, rng.normal(size=(5, 4)) * 3
  for tau in (1.0, 4.0):
    pt = np.exp(zt / tau) / np.exp(zt / tau).sum(1, keepdims=True)
    ps = np.exp(zs / tau) / np.exp(zs / tau).sum(1, keepdims=True)
    expected = np.mean(np.sum(pt * np.log(pt / ps), 1))
    assert metrics.kl_divergence(zt, zs, tau) == pytest.approx(
      expected, rel=1e-10
    )
  assert metrics.kl_divergence(zt, zt + 7.0) == pytest.approx(
    0.0, abs=1e-12
  )  # Shift-invariant.
  assert metrics.kl_divergence(zt, zs) > 0


def test_kl_with_one_hot_teacher_is_cross_entropy():
  zs = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
  teacher = np.array(
    [[1000.0, 0.0, 0.0], [0.0, 0.0, 1000.0]]
  )  # p_T one-hot exactly.
  assert metrics.kl_divergence(teacher, zs) == pytest.approx(
    metrics.cross_entropy(zs, [0, 2]), rel=1e-12
  )


def _ece_oracle(logits, labels, num_bins=15):
  """Per-bin loop over (lo, hi] edges, straight from the definition."""
  probs = np.exp(logits - logits.max(1, keepdims=True))
  probs /= probs.sum(1, keepdims=True)
  conf, pred = probs.max(1), probs.argmax(1)
  edges = np.linspace(0, 1, num_bins + 1)
  total = 0.0
  for lo, hi in zip(edges[:-1], edges[1:]):
    in_bin = (conf > lo) & (conf <= hi)
    if in_bin.any():
      total += in_bin.mean() * abs(
        (pred[in_bin] == labels[in_bin]).mean() - conf[in_bin].mean()
      )
  return total


def test_ece_matches_definition():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(500, 10)) * rng.uniform(0.1, 5, size=(500, 1))
  labels = rng.integers(0, 10, 500)
  assert metrics.expected_calibration_error(logits, labels) == pytest.approx(
    _ece_oracle(logits, labels), abs=1e-12
  )


def test_ece_by_hand():
  # Two examples with confidence 0.8 (one right, one wrong) and one at ~1.0, right:
  # bin of 0.8: |0.5 − 0.8| weighted 2/3; bin of 1.0: ≈ 0.
  p = 0.8
  logit = np.log(p / (1 - p))
  logits = np.array([[logit, 0.0], [logit, 0.0], [50.0, 0.0]])
  labels = np.array([0, 1, 0])
  assert metrics.expected_calibration_error(logits, labels) == pytest.approx(
    2 / 3 * 0.3, abs=1e-9
  )
  assert (
    metrics.expected_calibration_error(np.array([[50.0, 0.0]]), [0]) < 1e-12
  )


def test_rejects_non_matrix_logits():
  with pytest.raises(ValueError, match="shape"):
    metrics.accuracy(np.zeros(3), [0, 1, 2])
