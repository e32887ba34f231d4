"""The streamed layout (`kd_ntk.ntk.streamed`): every backward pass once, the
kernel summed over parameters, convolutions kept whole or compact.

Checked against the float64 J Jᵀ oracle for whole, compact and one-channel
groups, symmetric and cross kernels, and for the plan's choices.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk.ntk import empirical_ntk, explain, planning, streamed, x64_scope

from ntk_helpers import F64_TOL, reference_full, rel_error


def _net(p, x):
  """Two convolutions (NHWC, then NCHW with stride 2), a dense head."""
  h = jax.lax.conv_general_dilated(
    x, p["k1"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  h = jnp.tanh(h).transpose(0, 3, 1, 2)
  h = jax.lax.conv_general_dilated(
    h, p["k2"], (2, 2), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
  )
  return jnp.tanh(h).reshape(x.shape[0], -1) @ p["w"] + p["b"]


def _setup():
  rng = np.random.default_rng(0)
  params = dict(
    k1=0.5 * rng.standard_normal((3, 3, 2, 4)),
    k2=0.3 * rng.standard_normal((5, 4, 3, 3)),
    w=0.3 * rng.standard_normal((5 * 3 * 3, 3)),
    b=0.1 * rng.standard_normal(3),
  )
  x = rng.standard_normal((11, 8, 8, 2))
  return params, x


@pytest.fixture(scope="module")
def net():
  params, x = _setup()
  ref = np.einsum("ijcc->ij", reference_full(_net, params, x))
  return params, x, ref


def _budget_for(params, x, whole: bool) -> int:
  """A budget that keeps both convolutions whole, or the smallest that works
  (convolutions compact, the fewest input channels per group)."""
  with x64_scope():
    p64 = jax.tree_util.tree_map(jnp.asarray, params)
    plan = planning.make_plan(
      _net,
      p64,
      x[0],
      n_max=len(x),
      output="trace",
      method="structured",
      block_size=None,
      dtype=None,
    )
    old = planning.STREAM_BYTES
    chosen = {}
    try:
      for budget in [2**40] + [2**k for k in range(26, 16, -1)]:
        planning.STREAM_BYTES = budget
        got = planning.stream_layout(  # the cross kernel keeps the most
          _net,
          plan,
          p64,
          n1=4,
          n2=len(x) - 4,
          output="trace",
          dtype=None,
          x_example=x[0],
        )
        if got is not None:
          chosen[budget] = got[0]
    finally:
      planning.STREAM_BYTES = old
  assert chosen[2**40].compact == ()
  if whole:
    return 2 * chosen[2**40].peak_bytes
  smallest = min(chosen)
  assert chosen[smallest].compact and chosen[smallest].group_channels[0] < 4
  return smallest


@pytest.mark.parametrize("kind", ["whole", "compact"])
def test_streamed_matches_the_float64_oracle(net, kind, monkeypatch):
  params, x, ref = net
  monkeypatch.setattr(
    planning, "STREAM_BYTES", _budget_for(params, x, kind == "whole")
  )
  with x64_scope():
    p64 = jax.tree_util.tree_map(jnp.asarray, params)
    plan = explain(_net, p64, x, layout="streamed", symmetric=False)
    assert plan.layout == "streamed"
    assert (len(plan.compact_convs) > 0) == (kind == "compact")
    sym = empirical_ntk(_net, p64, x, layout="streamed")
    assert sym.dtype == np.float64 and np.array_equal(sym, sym.T)
    assert rel_error(sym, ref) < F64_TOL
    cross = empirical_ntk(_net, p64, x[:4], x[4:], layout="streamed")
    assert rel_error(cross, ref[:4, 4:]) < F64_TOL


def test_float32_parameters_accumulate_in_float64_when_asked(net):
  params, x, ref = net
  p32 = jax.tree_util.tree_map(lambda a: a.astype(np.float32), params)
  x32 = x.astype(np.float32)
  gram = empirical_ntk(_net, p32, x32, layout="streamed", dtype=jnp.float64)
  assert gram.dtype == np.float64 and rel_error(gram, ref) < 1e-5


def test_plan_makes_compact_the_largest_saving_first_and_refuses_when_too_big():
  params, x = _setup()
  p32 = jax.tree_util.tree_map(lambda a: a.astype(np.float32), params)
  x32 = x.astype(np.float32)
  plan = planning.make_plan(
    _net,
    p32,
    x32[0],
    n_max=len(x),
    output="trace",
    method="structured",
    block_size=None,
    dtype=None,
  )
  backward = planning.streamed_fns(_net, plan)[0]
  block = jax.ShapeDtypeStruct((plan.block_size,) + x32.shape[1:], x32.dtype)
  shapes = jax.eval_shape(backward, jax.tree_util.tree_leaves(p32), block)
  args = (plan.layers, shapes)
  sizes = dict(
    num_logits=plan.num_logits,
    n_stored=128,
    out_bytes=128 * 128 * 4,
    itemsize=4,
  )
  roomy = streamed.stream_plan(*args, **sizes, budget=2**40)
  assert roomy.compact == () and roomy.group_channels == ()
  # conv 0 (2 -> 4 channels, 3x3, 8x8 out): whole C·D·O = 3·18·4 = 216 <
  # compact 8·8·2 + 3·8·8·4 = 896, never compact; conv 1 (4 -> 5, 3x3,
  # stride 2, 3x3 out): whole 3·36·5 = 540 > compact 4·8·8 + 3·9·5 = 391.
  squeezed = streamed.stream_plan(*args, **sizes, budget=roomy.peak_bytes - 1)
  assert squeezed is not None and squeezed.compact == (1,)
  assert squeezed.peak_bytes <= roomy.peak_bytes - 1
  assert streamed.stream_plan(*args, **sizes, budget=10_000) is None


def test_streamed_layout_refuses_what_it_cannot_do(net):
  params, x, _ = net
  with pytest.raises(ValueError, match="layout='streamed' needs"):
    empirical_ntk(_net, params, x, output="full", layout="streamed")
  with pytest.raises(ValueError, match="Unknown layout"):
    empirical_ntk(_net, params, x, layout="rows")
