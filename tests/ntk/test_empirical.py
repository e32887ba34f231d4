"""kd_ntk.ntk.empirical_ntk against an explicit float64 J Jᵀ, and its own invariants.

K_ij = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩. Tolerances: 1e-5 relative (to max|K|)
in float32, 1e-10 with float64 parameters and inputs.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk.models import get_model
from kd_ntk.ntk import (
  empirical_ntk,
  factorisable_leaves,
  ntk_block_fn,
  x64_enabled,
  x64_scope,
)

# tests/ntk is on sys.path (no __init__.py): its helper module imports directly.
from ntk_helpers import (
  F32_TOL,
  F64_TOL,
  perturb,
  random_params,
  reference_full,
  rel_error,
  setup_net,
)

MODELS = {
  "mlp": dict(name="mlp16", shape=(4, 4, 1), n=7),
  "lenet5": dict(name="lenet5", shape=(28, 28, 1), n=5),
  "resnet8_nf": dict(name="resnet8_nf", shape=(8, 8, 1), n=5),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def net(request):
  spec = MODELS[request.param]
  f, params, x = setup_net(spec["name"], spec["shape"], spec["n"])
  return request.param, f, params, x, reference_full(f, params, x)


def test_matches_explicit_jjt_in_float32(net):
  name, f, params, x, ref = net
  gram = empirical_ntk(f, params, x, block_size=3)
  assert gram.shape == (len(x), len(x)) and gram.dtype == np.float32
  assert rel_error(gram, np.einsum("ijcc->ij", ref)) < F32_TOL, name


def test_matches_explicit_jjt_in_float64(net):
  name, f, params, x, ref = net
  with x64_scope():
    p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    full = empirical_ntk(f, p64, x.astype(np.float64), output="full")
  assert full.dtype == np.float64
  assert rel_error(full, ref) < F64_TOL, name


def test_float64_accumulation_of_float32_jacobians():
  f, params, x = setup_net("mlp16", (4, 4, 1), 6)
  ref = np.einsum("ijcc->ij", reference_full(f, params, x))
  gram = empirical_ntk(f, params, x, dtype=jnp.float64)
  assert gram.dtype == np.float64
  assert rel_error(gram, ref) < F32_TOL
  assert not x64_enabled()  # enabled only around the contraction


@pytest.fixture(scope="module")
def mlp():
  f, params, x = setup_net("mlp16", (4, 4, 1), 11, num_classes=4)
  x2 = np.random.default_rng(7).standard_normal((6, 4, 4, 1)).astype(np.float32)
  return (
    f,
    params,
    x,
    x2,
    reference_full(f, params, x),
    reference_full(f, params, x, x2),
  )


@pytest.mark.parametrize("output", ["trace", "full", "diagonal"])
def test_methods_agree_with_each_other_and_the_reference(mlp, output):
  f, params, x, _, ref, _ = mlp
  want = {
    "trace": np.einsum("ijcc->ij", ref),
    "full": ref,
    "diagonal": np.einsum("ijcc->ijc", ref),
  }[output]
  grams = {
    m: empirical_ntk(f, params, x, output=m_out, method=m)
    for m, m_out in [
      (m, output) for m in ("auto", "jacobian", "structured", "ntvp")
    ]
  }
  for method, gram in grams.items():
    assert gram.shape == want.shape, method
    assert rel_error(gram, want) < F32_TOL, method


@pytest.mark.parametrize("block_size", [3, 4, 11, 64])
def test_blocked_equals_unblocked(mlp, block_size):
  f, params, x, x2, _, _ = mlp
  whole = empirical_ntk(f, params, x, output="full", block_size=len(x))
  blocked = empirical_ntk(f, params, x, output="full", block_size=block_size)
  np.testing.assert_allclose(
    blocked, whole, rtol=1e-6, atol=1e-6 * np.abs(whole).max()
  )
  cross_whole = empirical_ntk(
    f, params, x, x2, output="diagonal", block_size=len(x)
  )
  cross = empirical_ntk(
    f, params, x, x2, output="diagonal", block_size=block_size
  )
  np.testing.assert_allclose(
    cross, cross_whole, rtol=1e-6, atol=1e-6 * np.abs(cross_whole).max()
  )


def test_given_x2_matches_symmetric_and_reference(mlp):
  f, params, x, x2, _, ref_cross = mlp
  sym = empirical_ntk(f, params, x, block_size=4)
  np.testing.assert_array_equal(
    sym, sym.T
  )  # mirrored blocks: exactly symmetric
  same = empirical_ntk(f, params, x, x, block_size=4)
  np.testing.assert_allclose(
    same, sym, rtol=1e-6, atol=1e-6 * np.abs(sym).max()
  )
  cross = empirical_ntk(f, params, x, x2, output="full", block_size=4)
  assert cross.shape == (11, 6, 4, 4)
  assert rel_error(cross, ref_cross) < F32_TOL


def test_trace_and_diagonal_are_parts_of_full(mlp):
  f, params, x, x2, _, _ = mlp
  full = empirical_ntk(f, params, x, x2, output="full", block_size=4)
  trace = empirical_ntk(f, params, x, x2, output="trace", block_size=4)
  diagonal = empirical_ntk(f, params, x, x2, output="diagonal", block_size=4)
  scale = np.abs(full).max()
  np.testing.assert_allclose(
    trace, np.einsum("ijcc->ij", full), atol=1e-5 * scale
  )
  np.testing.assert_allclose(
    diagonal, np.einsum("ijcc->ijc", full), atol=1e-6 * scale
  )


def test_compiled_once_and_reused_across_blocks_and_calls():
  model = get_model("mlp16", 3)
  x = np.ones((12, 4, 4, 1), np.float32)
  variables = random_params(model, x[:1])
  traces = []

  def f(params, x):
    traces.append(x.shape)  # runs only when JAX traces f
    return model.apply({"params": params}, x)

  empirical_ntk(f, variables["params"], x[:5], block_size=4)
  first = len(traces)
  empirical_ntk(
    f, variables["params"], x, block_size=4
  )  # 3 blocks, padded last
  empirical_ntk(f, perturb(variables["params"]), x[:9], x[9:], block_size=4)
  assert len(traces) == first


@pytest.mark.parametrize("method", ["structured", "ntvp"])
def test_block_fn_is_directly_callable_and_compiled_once(mlp, method):
  f, params, x, x2, _, ref_cross = mlp
  traces = []

  def g(p, xx):
    traces.append(xx.shape)  # runs only when JAX traces g
    return f(p, xx)

  kernel = ntk_block_fn(g, output="full", method=method)
  block = kernel(params, x[:5], x2[:5])
  assert isinstance(block, jax.Array) and block.shape == (5, 5, 4, 4)
  assert rel_error(block, ref_cross[:5, :5]) < F32_TOL
  count = len(traces)
  kernel(params, x[5:10], x2[:5])  # same shapes: no new trace
  assert len(traces) == count
  with pytest.raises(ValueError, match="per-example shape"):
    kernel(params, x[:2], np.zeros((2, 3), np.float32))


def test_progress_goes_to_stderr(mlp, capsys):
  f, params, x, _, _, _ = mlp
  empirical_ntk(f, params, x, block_size=4, progress=True)
  err = capsys.readouterr().err
  assert "6/6 blocks" in err and "ETA" in err


def test_dense_layers_are_found_and_shared_weights_are_not():
  f, params, x = setup_net("mlp16", (4, 4, 1), 2)
  leaves = jax.tree_util.tree_leaves(params)
  found = factorisable_leaves(f, params, x[0])
  assert sorted(found) == [k for k, leaf in enumerate(leaves) if leaf.ndim == 2]

  class Shared(nn.Module):  # one kernel used twice: J_W is not an outer product
    @nn.compact
    def __call__(self, x, train=False):
      dense = nn.Dense(16)
      h = x.reshape((x.shape[0], -1))
      return nn.Dense(3)(jnp.tanh(dense(jnp.tanh(dense(h)))))

  model = Shared()
  xs = np.random.default_rng(3).standard_normal((5, 16)).astype(np.float32)
  params = random_params(model, xs[:1])["params"]
  g = lambda p, xx: model.apply({"params": p}, xx)
  assert list(factorisable_leaves(g, params, xs[0])) == [3]  # the head only
  ref = np.einsum("ijcc->ij", reference_full(g, params, xs))
  assert (
    rel_error(empirical_ntk(g, params, xs, method="structured"), ref) < F32_TOL
  )


def test_sequence_dense_and_jitted_functions():
  class Tokens(nn.Module):  # a dense layer at every position: not rank one
    @nn.compact
    def __call__(self, x, train=False):
      h = nn.relu(nn.Dense(8)(x))  # (B, T, 8)
      return nn.Dense(2)(h.reshape((x.shape[0], -1)))

  model = Tokens()
  x = np.random.default_rng(4).standard_normal((6, 5, 3)).astype(np.float32)
  params = random_params(model, x)["params"]
  g = jax.jit(lambda p, xx: model.apply({"params": p}, xx))  # taps inside a jit
  found = factorisable_leaves(g, params, x[0])
  leaves = jax.tree_util.tree_leaves(params)
  assert [leaves[k].shape for k in found] == [(40, 2)]
  ref = np.einsum("ijcc->ij", reference_full(g, params, x))
  assert (
    rel_error(
      empirical_ntk(g, params, x, method="structured", block_size=4), ref
    )
    < F32_TOL
  )


def test_falls_back_to_the_jacobian_path_when_tapping_fails(mlp, monkeypatch):
  f, params, x, _, ref, _ = mlp
  from kd_ntk.ntk import structure  # pylint: disable=g-import-not-at-top

  def broken(eqn, invals):
    raise NotImplementedError("a primitive this JAX cannot re-bind")

  monkeypatch.setattr(structure, "_bind", broken)
  g = lambda p, xx: f(p, xx)  # a new function: no cached analysis
  with pytest.warns(UserWarning, match="plain Jacobian path"):
    gram = empirical_ntk(g, params, x, method="structured")
  assert rel_error(gram, np.einsum("ijcc->ij", ref)) < F32_TOL


def test_unhashable_network_function(mlp):
  f, params, x, _, ref, _ = mlp

  class Net:
    __hash__ = None  # e.g. a dataclass with eq=True

    def __call__(self, p, xx):
      return f(p, xx)

  gram = empirical_ntk(Net(), params, x)
  assert rel_error(gram, np.einsum("ijcc->ij", ref)) < F32_TOL


def test_clear_errors_for_bad_inputs(mlp):
  f, params, x, _, _, _ = mlp
  with pytest.raises(ValueError, match="per-example shape"):
    empirical_ntk(f, params, x, np.zeros((3, 5, 5, 1), np.float32))
  with pytest.raises(ValueError, match="Unknown output"):
    empirical_ntk(f, params, x, output="sum")
  with pytest.raises(ValueError, match="Unknown method"):
    empirical_ntk(f, params, x, method="magic")
  with pytest.raises(ValueError, match="block_size"):
    empirical_ntk(f, params, x, block_size=0)
  with pytest.raises(ValueError, match="at least one example"):
    empirical_ntk(f, params, x[:0])
  with pytest.raises(ValueError, match="floating dtype"):
    empirical_ntk(f, params, x, dtype=np.int32)
  with pytest.raises(ValueError, match="ntvp"):
    empirical_ntk(f, params, x, method="ntvp", dtype=jnp.float64)
  with pytest.raises(ValueError, match="one row of logits per example"):
    empirical_ntk(lambda p, xx: f(p, xx).sum(), params, x)
