"""Every method on plain-JAX functions (no flax) against an explicit float64 J Jᵀ.

    K_ij^{cd} = ⟨∂f_c(x_i)/∂θ, ∂f_d(x_j)/∂θ⟩

Each row of the table is a construct users write and the layer analysis must
either recognise or leave to the plain Jacobian path: nothing may raise and
every method must agree with the oracle to 1e-10 in float64.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk.ntk import empirical_ntk, x64_scope

from ntk_helpers import (
  F64_TOL,
  reference_full,
  rel_error,
)  # tests/ntk is on sys.path

METHODS = ("auto", "jacobian", "structured", "ntvp")
_RNG = np.random.default_rng(0)


def _w(*shape):
  scale = 1.0 / np.sqrt(np.prod(shape[:-1])) if len(shape) > 1 else 0.5
  return scale * _RNG.standard_normal(shape)


def _conv(x, w, *, layout="NHWC", **kwargs):
  dn = (layout, "HWIO", layout)
  return jax.lax.conv_general_dilated(x, w, dimension_numbers=dn, **kwargs)


def _pool_head(h, axes):
  return jnp.tanh(h).mean(axis=axes)


CASES = {
  "no_biases": (
    lambda p, x: jnp.tanh(x @ p["a"]) @ p["b"],
    dict(a=_w(6, 6), b=_w(6, 3)),
    (5, 6),
  ),
  "tied_weight": (
    lambda p, x: jnp.tanh(jnp.tanh(x @ p["w"]) @ p["w"]) @ p["v"],
    dict(w=_w(6, 6), v=_w(6, 3)),
    (5, 6),
  ),
  "transposed": (
    lambda p, x: jnp.tanh(x @ p["w"].T) @ p["v"],
    dict(w=_w(7, 6), v=_w(7, 3)),
    (5, 6),
  ),
  "einsum": (
    lambda p, x: jnp.einsum(
      "bh,hc->bc", jnp.tanh(jnp.einsum("bi,ih->bh", x, p[0])), p[1]
    ),
    [_w(6, 5), _w(5, 3)],
    (5, 6),
  ),
  "dot_general": (
    lambda p, x: jax.lax.dot_general(
      jnp.tanh(jax.lax.dot_general(x, p[0], (((1,), (0,)), ((), ())))),
      p[1],
      (((1,), (1,)), ((), ())),
    ),
    (_w(6, 5), _w(3, 5)),
    (5, 6),
  ),
  "scalar_param": (
    lambda p, x: p["s"] * jnp.tanh(x @ p["w"]) @ p["v"],
    dict(s=np.array(1.3), w=_w(6, 5), v=_w(5, 3)),
    (5, 6),
  ),
  "elementwise": (
    lambda p, x: jnp.tanh(x * p["g"]) @ p["w"],
    dict(g=_w(6), w=_w(6, 3)),
    (5, 6),
  ),
  "scaled_after_matmul": (
    lambda p, x: (jnp.tanh((x @ p["a"]) / np.sqrt(6.0)) @ p["b"]) * 0.5,
    dict(a=_w(6, 6), b=_w(6, 3)),
    (5, 6),
  ),
  "reshape_inside": (
    lambda p, x: jnp.tanh(x.reshape(x.shape[0], -1) @ p["a"]) @ p["b"],
    dict(a=_w(12, 5), b=_w(5, 3)),
    (5, 3, 4),
  ),
  "integer_inputs": (
    lambda p, x: jnp.tanh(x.astype(p["a"].dtype) @ p["a"]) @ p["b"],
    dict(a=_w(6, 5), b=_w(5, 3)),
    (5, 6),
  ),
  "single_logit": (
    lambda p, x: jnp.tanh(x @ p["a"] + p["c"]) @ p["b"],
    dict(a=_w(6, 5), b=_w(5, 1), c=_w(5)),
    (5, 6),
  ),
  "conv_stride_nhwc": (
    lambda p, x: (
      _pool_head(
        _conv(x, p["k"], window_strides=(2, 2), padding="SAME"), (1, 2)
      )
      @ p["v"]
    ),
    dict(k=_w(3, 3, 2, 4), v=_w(4, 3)),
    (4, 7, 7, 2),
  ),
  "conv_dilation_nchw": (
    lambda p, x: (
      _pool_head(
        _conv(
          x,
          p["k"],
          layout="NCHW",
          window_strides=(1, 1),
          padding="VALID",
          rhs_dilation=(2, 2),
        ),
        (2, 3),
      )
      @ p["v"]
    ),
    dict(k=_w(3, 3, 2, 4), v=_w(4, 3)),
    (4, 2, 8, 8),
  ),
  "conv_depthwise": (
    lambda p, x: (
      _pool_head(
        _conv(
          x,
          p["k"],
          window_strides=(1, 1),
          padding=((1, 1), (0, 2)),
          feature_group_count=4,
        ),
        (1, 2),
      )
      @ p["v"]
    ),
    dict(k=_w(3, 3, 1, 8), v=_w(8, 3)),
    (4, 6, 6, 4),
  ),
  "conv_lhs_dilation": (
    lambda p, x: (
      _pool_head(
        _conv(
          x,
          p["k"],
          window_strides=(1, 1),
          padding=((1, 1), (2, 0)),
          lhs_dilation=(2, 1),
        ),
        (1, 2),
      )
      @ p["v"]
    ),
    dict(k=_w(2, 3, 3, 4), v=_w(4, 3)),
    (3, 5, 5, 3),
  ),
  # Exact ties in every pooling window (piecewise-constant input, zero
  # offsets b); which tied entry of b gets the gradient is JAX's rule.
  "conv_maxpool_ties": (
    lambda p, x: (
      jnp.tanh(
        jax.lax.reduce_window(
          _conv(x, p["k"], window_strides=(1, 1), padding="VALID") + p["b"],
          -jnp.inf,
          jax.lax.max,
          (1, 2, 2, 1),
          (1, 2, 2, 1),
          "VALID",
        )
      ).reshape(x.shape[0], -1)
      @ p["v"]
    ),
    dict(k=_w(1, 1, 1, 3), b=np.zeros((5, 5, 3)), v=_w(12, 3)),
    (4, 5, 5, 1),
  ),
  "params_list_tuple": (
    lambda p, x: jnp.tanh(x @ p[0][0] + p[0][1]) @ p[1][0],
    [(_w(6, 5), _w(5)), [_w(5, 3)]],
    (5, 6),
  ),
}


def _data(name):
  f, params, shape = CASES[name]
  rng = np.random.default_rng(len(name))
  if name == "integer_inputs":
    x = rng.integers(-3, 4, size=shape).astype(np.int32)
  elif (
    name == "conv_maxpool_ties"
  ):  # examples 0, 1: ties in every pooling window
    x = rng.standard_normal(shape)
    x[:2] = np.repeat(np.repeat(rng.standard_normal((2, 3, 3, 1)), 2, 1), 2, 2)[
      :, :5, :5
    ]
  else:
    x = rng.standard_normal(shape)
  return f, params, x


def _check_all_methods(f, params, x):
  ref = reference_full(f, params, x)
  with x64_scope():
    p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    x64 = x if np.issubdtype(x.dtype, np.integer) else x.astype(np.float64)
    for method in METHODS:
      full = empirical_ntk(
        f, p64, x64, output="full", method=method, block_size=3
      )
      assert full.dtype == np.float64 and full.shape == ref.shape, method
      assert rel_error(full, ref) < F64_TOL, method
    trace = empirical_ntk(f, p64, x64, x64[:2])  # the default path, x2 given
    assert rel_error(trace, np.einsum("ijcc->ij", ref[:, :2])) < F64_TOL
    # One device: "auto" streams wherever layers are tapped (symmetric and
    # cross kernels), else takes the blocked layout.
    one = jax.local_devices()[:1]
    trace = empirical_ntk(f, p64, x64, devices=one)
    assert rel_error(trace, np.einsum("ijcc->ij", ref)) < F64_TOL
    trace = empirical_ntk(f, p64, x64, x64[:2], devices=one)
    assert rel_error(trace, np.einsum("ijcc->ij", ref[:, :2])) < F64_TOL


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_method_matches_the_float64_oracle(name):
  _check_all_methods(*_data(name))


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("bias", [True, False])
def test_neural_tangents_stax_fc_networks(parameterization, bias):
  nt = pytest.importorskip(
    "neural_tangents",
    reason="neural-tangents is absent only on the core-only leg",
  )
  stax = nt.stax
  kw = dict(parameterization=parameterization, b_std=0.1 if bias else None)
  init_fn, apply_fn, _ = stax.serial(
    stax.Dense(8, **kw), stax.Erf(), stax.Dense(3, **kw)
  )
  x = np.random.default_rng(1).standard_normal((5, 4))
  _, params = init_fn(jax.random.PRNGKey(0), x.shape)
  params = jax.tree_util.tree_map(np.asarray, params)
  _check_all_methods(apply_fn, params, x)


def test_vector_output_gets_a_clear_error():
  f = lambda p, x: jnp.tanh(x @ p["a"]) @ p["b"][:, 0]  # (B,)
  _, params, x = _data("no_biases")
  with pytest.raises(ValueError, match=r"\(B,\).*\[:, None\]"):
    empirical_ntk(f, params, x)
