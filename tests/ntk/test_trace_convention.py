"""empirical_ntk's trace convention: the sum over logits by default, the mean
(neural-tangents' `trace_axes=(-1,)`) with trace_reduction="mean"."""

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
import numpy as np
import pytest

from kd_ntk.ntk import empirical_ntk, monte_carlo_ntk
from kd_ntk.ntk.conventions import num_logits

from ntk_helpers import rel_error, setup_net  # noqa: E402  (tests/ntk is on sys.path)


def explicit_gram(f, params, x, c):
  """Σ_c J_c J_cᵀ in float64 from per-logit gradients, by hand."""
  flat, unravel = ravel_pytree(params)
  jac = jax.jacrev(lambda p, xi: f(unravel(p), xi[None])[0])
  rows = np.stack([np.asarray(jac(flat, xi), np.float64) for xi in x])
  assert rows.shape[1] == c
  return np.einsum("icp,jcp->ij", rows, rows)


def test_sum_is_the_default_and_mean_divides_by_c():
  f, params, x = setup_net("mlp16", (4, 4, 1), 5, num_classes=3)
  reference = explicit_gram(f, params, x, 3)
  summed = empirical_ntk(f, params, x, dtype=jnp.float64)
  mean = empirical_ntk(f, params, x, dtype=jnp.float64, trace_reduction="mean")
  assert rel_error(summed, reference) < 1e-6
  assert rel_error(mean, reference / 3) < 1e-6
  assert mean.dtype == summed.dtype == np.float64
  assert num_logits(f, params, x) == 3
  mc = monte_carlo_ntk(
    f,
    lambda key: params,
    x,
    num_samples=2,
    rng=np.array([0, 1], np.uint32),
    trace_reduction="mean",
  )
  np.testing.assert_allclose(mc, mean, rtol=1e-6)


@pytest.mark.parametrize(
  "kwargs, message",
  [
    (dict(trace_reduction="median"), "trace_reduction must be one of"),
    (dict(trace_reduction="mean", output="full"), "output='trace' only"),
  ],
)
def test_bad_conventions_fail_in_one_line(kwargs, message):
  f, params, x = setup_net("mlp16", (4, 4, 1), 3, num_classes=3)
  with pytest.raises(ValueError, match=message) as info:
    empirical_ntk(f, params, x, **kwargs)
  assert "\n" not in str(info.value)


def test_mean_matches_neural_tangents_without_a_factor():
  nt = pytest.importorskip(
    "neural_tangents",
    reason="neural-tangents is absent only on the core-only leg (newest JAX)",
  )
  f, params, x = setup_net("lenet5", (28, 28, 1), 5, num_classes=4)
  theirs = np.asarray(
    nt.empirical_ntk_fn(f, trace_axes=(-1,), vmap_axes=0)(x, None, params),
    np.float64,
  )
  ours = empirical_ntk(f, params, x, trace_reduction="mean")
  assert rel_error(ours, theirs) < 1e-5  # both float32
  assert rel_error(empirical_ntk(f, params, x), theirs) > 2.5  # sum: 4x
