"""Supervision complexity against closed forms and independent computations."""

import json
import math

import numpy as np
import pytest

from kd_ntk.complexity import supervision
from kd_ntk.complexity import targets as targets_lib

sc_fn = supervision.supervision_complexity


def random_gram(n, num_features, seed, jitter=0.1):
  """A well-conditioned PSD Gram matrix: X Xᵀ/d + jitter·I."""
  features = np.random.default_rng(seed).standard_normal((n, num_features))
  return features @ features.T / num_features + jitter * np.eye(n)


def direct_sc_per_class(targets, gram, relative_ridge):
  """Y_cᵀ (K + λI)⁻¹ Y_c by np.linalg.solve, λ = ridge · tr K / n."""
  n = len(gram)
  shifted = gram + relative_ridge * np.trace(gram) / n * np.eye(n)
  return np.sum(targets * np.linalg.solve(shifted, targets), axis=0)


@pytest.mark.parametrize("method", ["cholesky", "eigh"])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_identity_kernel_one_hot_gives_asc_one(method, scale):
  n, num_classes, ridge = 90, 7, 1e-6
  targets = targets_lib.random_labels(n, num_classes, seed=1)
  result = sc_fn(targets, scale * np.eye(n), ridge=ridge, method=method)
  # (cI + λI)⁻¹ with λ = ridge·c: SC = n / (c (1 + ridge)), ASC = 1/sqrt(1 + ridge).
  assert result.sc == pytest.approx(n / (scale * (1 + ridge)), rel=1e-12)
  assert result.asc == pytest.approx(1 / math.sqrt(1 + ridge), rel=1e-12)
  assert result.condition_number == pytest.approx(1.0, rel=1e-9)
  assert not result.ridge_dominated
  assert result.method_used == method


@pytest.mark.parametrize("method", ["cholesky", "eigh"])
def test_asc_is_invariant_to_kernel_scale(method):
  gram = random_gram(80, 30, seed=2)
  targets = targets_lib.random_labels(80, 5, seed=3)
  base = sc_fn(targets, gram, method=method)
  scaled = sc_fn(targets, 250.0 * gram, method=method)
  assert scaled.asc == pytest.approx(base.asc, rel=1e-10)
  assert scaled.asc_per_class_root == pytest.approx(
    base.asc_per_class_root, rel=1e-10
  )
  assert scaled.sc == pytest.approx(base.sc / 250.0, rel=1e-10)


@pytest.mark.parametrize("method", ["cholesky", "eigh"])
def test_sc_equals_rkhs_norm_of_interpolant(method):
  gram = random_gram(70, 40, seed=4)
  targets = np.random.default_rng(5).standard_normal((70, 3))
  alpha = np.linalg.solve(gram, targets)  # f = K α interpolates Y
  rkhs_norm_squared = np.trace(alpha.T @ gram @ alpha)
  result = sc_fn(targets, gram, ridge=0.0, method=method)
  assert result.sc == pytest.approx(rkhs_norm_squared, rel=1e-10)
  assert result.ridge_used == 0.0


def test_sc_and_path_match_direct_solves():
  gram = random_gram(60, 20, seed=6, jitter=0.01)
  targets = targets_lib.random_labels(60, 4, seed=7)
  result = sc_fn(targets, gram, ridge=1e-3, ridge_path=(1e-2, 1e-6))
  assert [r for r, _, _ in result.ridge_path] == [1e-6, 1e-3, 1e-2]
  for relative, sc, asc in result.ridge_path:
    expected = direct_sc_per_class(targets, gram, relative).sum()
    assert sc == pytest.approx(expected, rel=1e-9)
    assert asc == pytest.approx(
      math.sqrt(expected * np.trace(gram)) / 60, rel=1e-9
    )
  np.testing.assert_allclose(
    result.sc_per_class, direct_sc_per_class(targets, gram, 1e-3), rtol=1e-9
  )
  assert result.ridge_used == pytest.approx(
    1e-3 * np.trace(gram) / 60, rel=1e-14
  )


def test_random_labels_are_more_complex_than_labels_the_kernel_fits():
  n, num_classes = 120, 4
  labels = np.arange(n) % num_classes
  targets = targets_lib.one_hot(labels, num_classes)
  gram = targets @ targets.T + 0.05 * np.eye(
    n
  )  # a kernel aligned with the labels
  label_asc = sc_fn(targets, gram).asc
  random_asc = sc_fn(
    targets_lib.random_labels(n, num_classes, seed=8), gram
  ).asc
  assert label_asc < 1.0 < random_asc


def test_random_labels_asc_at_least_one_on_generic_kernel():
  # E[SC]·tr K ≳ (1 − 1/C) tr K⁻¹ tr K ≥ (1 − 1/C) n² (Cauchy–Schwarz), with a
  # large margin for a spread spectrum.
  gram = random_gram(150, 60, seed=9, jitter=0.05)
  for seed in range(3):
    assert sc_fn(targets_lib.random_labels(150, 10, seed), gram).asc >= 1.0


def test_per_class_root_matches_direct_computation():
  gram = random_gram(64, 25, seed=10)
  targets = targets_lib.random_labels(64, 6, seed=11)
  result = sc_fn(targets, gram, ridge=1e-4)
  per_class = direct_sc_per_class(targets, gram, 1e-4)
  trace = np.trace(gram)
  expected_root = np.sum(np.sqrt(per_class * trace)) / 64
  assert result.asc_per_class_root == pytest.approx(expected_root, rel=1e-10)
  assert result.sc == pytest.approx(per_class.sum(), rel=1e-10)
  # Σ_c sqrt(a_c) ≥ sqrt(Σ_c a_c), and ≤ sqrt(C) times it.
  assert result.asc <= result.asc_per_class_root <= math.sqrt(6) * result.asc


def test_cholesky_and_eigh_agree_on_well_conditioned_kernel():
  # n > the dense-spectrum threshold, so the Cholesky route uses Lanczos.
  gram = random_gram(200, 80, seed=12)
  targets = targets_lib.teacher_probabilities(
    np.random.default_rng(13).standard_normal((200, 5)) * 3
  )
  fast = sc_fn(targets, gram, method="cholesky")
  exact = sc_fn(targets, gram, method="eigh")
  assert fast.spectrum_method == "lanczos" and exact.spectrum_method == "eigh"
  for name in ("sc", "asc", "asc_per_class_root", "ridge_sensitivity"):
    assert getattr(fast, name) == pytest.approx(
      getattr(exact, name), rel=1e-10
    ), name
  np.testing.assert_allclose(fast.sc_per_class, exact.sc_per_class, rtol=1e-10)
  np.testing.assert_allclose(
    np.array(fast.ridge_path), np.array(exact.ridge_path), rtol=1e-10
  )
  eigenvalues = np.linalg.eigvalsh(gram)
  for result in (fast, exact):
    assert result.max_eigenvalue == pytest.approx(eigenvalues[-1], rel=1e-7)
    assert result.min_eigenvalue == pytest.approx(eigenvalues[0], rel=1e-7)
    assert result.condition_number == pytest.approx(
      eigenvalues[-1] / eigenvalues[0], rel=1e-6
    )
  assert fast.outside_range_share == pytest.approx(
    exact.outside_range_share, rel=1e-6
  )
  assert fast.outside_range_share < 1e-10


@pytest.mark.parametrize("method", ["cholesky", "eigh"])
def test_rank_deficient_kernel_is_flagged_as_ridge_dominated(method):
  n, rank = 120, 20
  features = np.random.default_rng(14).standard_normal((n, rank))
  gram = features @ features.T
  targets = np.random.default_rng(15).standard_normal((n, 3))
  result = sc_fn(targets, gram, method=method)
  assert math.isfinite(result.sc) and math.isfinite(result.asc)
  assert result.condition_number == math.inf
  # Generic targets put about (n − rank)/n of their energy outside the range.
  assert 0.7 < result.outside_range_share < 0.95
  assert result.ridge_dominated
  # SC ∝ 1/λ: each ×100 of the ridge divides ASC by about 10.
  assert result.ridge_sensitivity > 5


def test_ridge_dominated_flag_follows_the_tolerances():
  gram = random_gram(50, 20, seed=16)
  targets = targets_lib.random_labels(50, 3, seed=17)
  relaxed = sc_fn(targets, gram)
  assert 0 < relaxed.ridge_sensitivity < supervision.RIDGE_SENSITIVITY_TOLERANCE
  assert not relaxed.ridge_dominated
  assert sc_fn(
    targets, gram, ridge_tolerance=relaxed.ridge_sensitivity / 2
  ).ridge_dominated
  assert sc_fn(targets, gram, outside_share_tolerance=0.0).ridge_dominated
  assert math.isnan(sc_fn(targets, gram, ridge_path=()).ridge_sensitivity)


def test_sensitivity_at_either_end_of_the_path_uses_its_one_neighbour():
  features = np.random.default_rng(23).standard_normal((60, 10))
  gram = features @ features.T  # rank 10: ASC ∝ 1/sqrt(λ)
  targets = np.random.default_rng(24).standard_normal((60, 2))
  lowest = sc_fn(targets, gram, ridge=1e-8, ridge_path=(1e-8, 1e-6))
  highest = sc_fn(targets, gram, ridge=1e-6, ridge_path=(1e-8, 1e-6))
  assert lowest.ridge_sensitivity == pytest.approx(0.9, rel=1e-2)  # 10× smaller
  assert highest.ridge_sensitivity == pytest.approx(9.0, rel=1e-2)  # 10× larger


@pytest.mark.parametrize("method", ["cholesky", "eigh"])
def test_tiny_smallest_eigenvalue_is_resolved(method):
  # Eigenvalues from 1 down to 1e-11, far above the rank tolerance n·eps ≈ 2e-14,
  # yet small enough that the shift t must be subtracted from 1/θ.
  n = 100
  basis, _ = np.linalg.qr(np.random.default_rng(25).standard_normal((n, n)))
  eigenvalues = np.logspace(0, -11, n)
  gram = (basis * eigenvalues) @ basis.T
  gram = (gram + gram.T) / 2
  result = sc_fn(targets_lib.random_labels(n, 3, seed=26), gram, method=method)
  assert result.min_eigenvalue == pytest.approx(1e-11, rel=1e-3)
  assert result.condition_number == pytest.approx(1e11, rel=1e-3)


def test_cholesky_failure_falls_back_to_eigh():
  features = np.random.default_rng(18).standard_normal((40, 5))
  gram = features @ features.T
  gram -= 1e-3 * np.trace(gram) / 40 * np.eye(40)  # indefinite: Cholesky fails
  result = sc_fn(
    targets_lib.random_labels(40, 3, seed=19), gram, method="cholesky"
  )
  assert result.method_requested == "cholesky"
  assert result.method_used == "eigh"
  assert result.spectrum_method == "eigh"
  assert result.min_eigenvalue < 0 and result.condition_number == math.inf


def test_zero_targets_have_zero_complexity():
  result = sc_fn(np.zeros((30, 4)), random_gram(30, 10, seed=20))
  assert (
    result.sc == 0.0 and result.asc == 0.0 and result.outside_range_share == 0.0
  )
  assert not result.ridge_dominated


def test_as_dict_is_a_flat_json_row():
  result = sc_fn(
    targets_lib.random_labels(30, 3, seed=21), random_gram(30, 10, seed=22)
  )
  row = result.as_dict(include_per_class=True)
  json.dumps(row)
  assert row["asc"] == result.asc
  assert row["asc_ridge_1e-08"] == result.ridge_path[0][2]
  assert row["sc_class_2"] == result.sc_per_class[2]
  assert "sc_per_class" not in row and "ridge_path" not in row
  assert "sc_class_0" not in result.as_dict()


def _bad_inputs():
  gram, targets = np.eye(4), np.eye(4)[:, :2]
  asymmetric = np.eye(4)
  asymmetric[0, 1] = 0.5
  with_nan = np.eye(4)
  with_nan[2, 2] = np.nan
  return [
    (targets[:, 0], gram, {}, "2-D"),
    (targets, np.ones((4, 3)), {}, "square"),
    (targets, np.eye(5), {}, "mismatch"),
    (targets, asymmetric, {}, "not symmetric"),
    (targets, with_nan, {}, "NaN or inf"),
    (np.where(targets > 0, np.inf, 0.0), gram, {}, "NaN or inf"),
    (np.ones((1, 2)), np.ones((1, 1)), {}, "at least 2"),
    (targets, np.zeros((4, 4)), {}, "positive trace"),
    (targets, gram, {"method": "svd"}, "method"),
    (targets, gram, {"ridge": -1e-6}, "ridge"),
    (targets, gram, {"ridge_path": (1e-4, math.nan)}, "ridge_path"),
    (targets, gram, {"eig_floor": -1.0}, "eig_floor"),
    (np.array([["a", "b"]] * 4), gram, {}, "real numbers"),
  ]


@pytest.mark.parametrize("targets,gram,kwargs,message", _bad_inputs())
def test_bad_inputs_raise_helpful_value_errors(targets, gram, kwargs, message):
  with pytest.raises(ValueError, match=message):
    sc_fn(targets, gram, **kwargs)
