"""The GRACE-style score: projection, gradients and the held-out trace."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk.advisor import grace


def test_projected_jacobians_of_a_linear_model():
  # f(W, x) = x W: ∂f_c(x)/∂W_{kc'} = x_k 1[c = c'], so Φ_i[c] = Σ_k x_ik R[(k, c)].
  rng = np.random.default_rng(0)
  x = rng.normal(size=(5, 3)).astype(np.float32)
  w = jnp.zeros((3, 2))
  phi = grace.projected_jacobians(lambda p, xb: xb @ p, w, x, dim=4, seed=1)
  assert phi.shape == (5, 2, 4)
  import jax  # pylint: disable=g-import-not-at-top

  r = (
    np.asarray(jax.random.normal(jax.random.PRNGKey(1), (6, 4), jnp.float32))
    / 2.0
  )
  r = r.reshape(3, 2, 4)  # ravel order of W: (k, c)
  expected = np.einsum("ik,kcd->icd", x, r)
  np.testing.assert_allclose(phi, expected, rtol=1e-5, atol=1e-6)


def test_gradients_vanish_when_targets_equal_the_student():
  features = np.ones((3, 2, 4))
  logits = np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  assert np.abs(grace.gradients(features, logits, probs, 1.0)).max() < 1e-12
  assert math.isnan(grace.grace_score(np.zeros((8, 4))))


def test_rank_one_gradients_by_hand():
  # Every gradient ±s·v (unit v): Σ_A = v vᵀ after normalisation, μ = (1, 0, ...);
  # shrunk μ̃ = (1−ν + ν/d, ν/d, ...); each held-out ĝ = ±v: T = 1/((1−ν+ν/d) d).
  d, nu = 4, 0.1
  v = np.array([0.0, 0.6, 0.8, 0.0])
  grads = np.outer(np.resize([1.0, -1.0], 10), v) * 3.0
  expected = 1 / ((1 - nu + nu / d) * d)
  assert grace.grace_score(grads, shrinkage=nu) == pytest.approx(expected)
  # Invariant to the gradients' overall scale.
  assert grace.grace_score(grads * 1e-3, shrinkage=nu) == pytest.approx(
    expected
  )


def test_held_out_directions_cost_more():
  d = 4
  fit = np.outer(np.ones(6), np.eye(d)[0])  # the fitting half only uses e_0
  same = np.outer(np.ones(6), np.eye(d)[0])
  other = np.outer(np.ones(6), np.eye(d)[1])
  assert grace.held_out_trace(fit, other) > 10 * grace.held_out_trace(fit, same)
  # Isotropic Gaussian gradients: T ≈ 1.
  rng = np.random.default_rng(0)
  assert grace.grace_score(rng.normal(size=(4000, 8))) == pytest.approx(
    1.0, abs=0.05
  )
  with pytest.raises(ValueError, match="shrinkage"):
    grace.held_out_trace(fit, same, shrinkage=0.0)
