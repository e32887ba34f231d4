"""Target builders: one-hot, random labels, teacher probabilities at temperature τ."""

import math

import numpy as np
import pytest

from kd_ntk.complexity import supervision
from kd_ntk.complexity import targets as targets_lib


def test_one_hot_values_shape_and_dtype():
  targets = targets_lib.one_hot(np.array([2, 0, 1, 2]), 3)
  np.testing.assert_array_equal(
    targets, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
  )
  assert targets.dtype == np.float64 and targets.flags.c_contiguous


@pytest.mark.parametrize(
  "labels,num_classes,message",
  [
    (np.array([0, 3]), 3, r"\[0, 3\)"),
    (np.array([-1, 0]), 3, r"\[0, 3\)"),
    (np.array([0.0, 1.0]), 3, "integers"),
    (np.zeros((2, 2), int), 3, "1-D"),
    (np.array([0, 1]), 0, "num_classes"),
    (np.array([0, 1]), 2.0, "num_classes"),
  ],
)
def test_one_hot_rejects_bad_labels(labels, num_classes, message):
  with pytest.raises(ValueError, match=message):
    targets_lib.one_hot(labels, num_classes)


def test_random_labels_are_seeded_one_hot_and_uniform():
  first = targets_lib.random_labels(10_000, 10, seed=3)
  np.testing.assert_array_equal(
    first, targets_lib.random_labels(10_000, 10, seed=3)
  )
  assert not np.array_equal(
    first, targets_lib.random_labels(10_000, 10, seed=4)
  )
  np.testing.assert_array_equal(first.sum(axis=1), 1.0)
  assert set(np.unique(first)) == {0.0, 1.0}
  counts = first.sum(axis=0)
  assert counts.min() > 900 and counts.max() < 1100  # ±10% of n/C, ≈ 3.3 std


def test_random_labels_rejects_bad_sizes():
  with pytest.raises(ValueError, match="n must be"):
    targets_lib.random_labels(0, 3, seed=0)
  with pytest.raises(ValueError, match="num_classes"):
    targets_lib.random_labels(5, 0, seed=0)


def test_teacher_probabilities_is_a_stable_softmax():
  logits = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
  probabilities = targets_lib.teacher_probabilities(logits, temperature=2.0)
  expected_first = np.exp([0.5, 1.0, 1.5]) / np.exp([0.5, 1.0, 1.5]).sum()
  np.testing.assert_allclose(probabilities[0], expected_first, rtol=1e-14)
  np.testing.assert_allclose(probabilities[1], [1.0, 0.0, 0.0], atol=1e-200)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-15)
  assert probabilities.dtype == np.float64


def test_teacher_probabilities_accept_float32_logits():
  logits = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
  probabilities = targets_lib.teacher_probabilities(logits)
  assert probabilities.dtype == np.float64
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-14)


def test_higher_temperature_is_closer_to_uniform():
  logits = 4.0 * np.random.default_rng(1).standard_normal((50, 10))
  distances, entropies = [], []
  for temperature in (1.0, 2.0, 4.0, 8.0):
    probabilities = targets_lib.teacher_probabilities(logits, temperature)
    distances.append(np.abs(probabilities - 0.1).max())
    entropies.append(-np.sum(probabilities * np.log(probabilities)))
  assert all(a > b for a, b in zip(distances, distances[1:]))
  assert all(a < b for a, b in zip(entropies, entropies[1:]))
  assert entropies[-1] < 50 * math.log(10)


def test_asc_of_teacher_probabilities_falls_with_temperature_on_identity_kernel():
  # With K = cI, SC = ‖P‖_F²/c, and ‖softmax(z/τ)‖² shrinks towards 1/C as τ grows.
  logits = 3.0 * np.random.default_rng(2).standard_normal((40, 5))
  ascs = [
    supervision.supervision_complexity(
      targets_lib.teacher_probabilities(logits, t), np.eye(40)
    ).asc
    for t in (1, 2, 4, 8)
  ]
  assert all(a > b for a, b in zip(ascs, ascs[1:]))


def test_centered_probabilities_subtract_one_over_c():
  logits = np.random.default_rng(3).standard_normal((6, 4))
  plain = targets_lib.teacher_probabilities(logits, 3.0)
  centered = targets_lib.teacher_probabilities(logits, 3.0, centered=True)
  np.testing.assert_allclose(centered, plain - 0.25, atol=1e-16)
  np.testing.assert_allclose(centered.sum(axis=1), 0.0, atol=1e-15)


@pytest.mark.parametrize(
  "logits,temperature,message",
  [
    (np.ones((3, 2)), 0.0, "temperature"),
    (np.ones((3, 2)), -1.0, "temperature"),
    (np.ones((3, 2)), math.nan, "temperature"),
    (np.ones((3, 2)), math.inf, "temperature"),
    (np.ones(3), 1.0, "2-D"),
    (np.array([[0.0, np.nan]]), 1.0, "NaN or inf"),
    (np.array([["a", "b"]]), 1.0, "real numbers"),
  ],
)
def test_teacher_probabilities_rejects_bad_inputs(logits, temperature, message):
  with pytest.raises(ValueError, match=message):
    targets_lib.teacher_probabilities(logits, temperature)
