"""kd_ntk.ntk.empirical_ntk against neural-tangents' empirical NTK.

neural-tangents' `trace_axes=(-1,)` is the *mean* over logits; ours is the sum,
so ours = C × theirs. Tolerance 1e-5 relative to max|K| (both in float32).
"""

import numpy as np
import pytest

nt = pytest.importorskip(
  "neural_tangents",
  reason="neural-tangents is absent only on the core-only leg (newest JAX)",
)

from kd_ntk.ntk import empirical_ntk  # noqa: E402

from ntk_helpers import rel_error, setup_net  # noqa: E402  (tests/ntk is on sys.path)

TOL = 1e-5
IMPLEMENTATIONS = {
  "jc": nt.NtkImplementation.JACOBIAN_CONTRACTION,
  "ntvp": nt.NtkImplementation.NTK_VECTOR_PRODUCTS,
}


def _nt_kernel(f, params, x1, x2, implementation, output):
  axes = {
    "trace": dict(trace_axes=(-1,)),
    "full": dict(trace_axes=()),
    "diagonal": dict(trace_axes=(), diagonal_axes=(-1,)),
  }[output]
  fn = nt.empirical_ntk_fn(
    f, vmap_axes=0, implementation=IMPLEMENTATIONS[implementation], **axes
  )
  return np.asarray(fn(x1, x2, params), np.float64)


@pytest.mark.parametrize("implementation", sorted(IMPLEMENTATIONS))
def test_lenet_trace_is_c_times_neural_tangents_mean(implementation):
  f, params, x = setup_net("lenet5", (28, 28, 1), 5, num_classes=3)
  theirs = _nt_kernel(f, params, x, None, implementation, "trace")
  ours = empirical_ntk(f, params, x, block_size=2)
  assert rel_error(ours, 3.0 * theirs) < TOL
  assert rel_error(ours, theirs) > 0.5  # the convention matters: not the mean


@pytest.mark.parametrize("implementation", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("output", ["full", "diagonal"])
def test_mlp_full_and_diagonal_match(implementation, output):
  f, params, x = setup_net("mlp16", (4, 4, 1), 6, num_classes=4)
  x2 = x[:4] * 0.5 + 0.1
  theirs = _nt_kernel(f, params, x, x2, implementation, output)
  for method in ("structured", "jacobian", "ntvp"):
    ours = empirical_ntk(
      f, params, x, x2, output=output, method=method, block_size=4
    )
    assert ours.shape == theirs.shape
    assert rel_error(ours, theirs) < TOL, method
