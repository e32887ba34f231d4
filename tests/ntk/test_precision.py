"""The kernel is traced under full float32 matmul precision.

GPUs otherwise run float32 matmuls and convolutions in TF32, whose ~1e-3
relative error swamps the Gram matrix's small eigenvalues (seen on an H200:
every supervision complexity ridge-dominated). The CPU cannot show TF32, so the
test records the precision setting that `f` sees while it is traced.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk.ntk import empirical_ntk, ntk_block_fn

METHODS = ("auto", "jacobian", "structured", "ntvp")


def _recording_mlp(seen):
  def f(p, x):
    seen.append(jax.config.jax_default_matmul_precision)
    return jnp.tanh(x @ p["a"]) @ p["b"]

  return f


def _params():
  rng = np.random.default_rng(0)
  return {
    "a": rng.standard_normal((6, 5)).astype(np.float32),
    "b": rng.standard_normal((5, 3)).astype(np.float32),
  }


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [None, jnp.float64])
def test_f_is_traced_at_highest_precision(method, dtype):
  if method == "ntvp" and dtype is not None:
    pytest.skip("ntvp forms no Jacobian blocks to cast (a ValueError says so).")
  seen = []
  x = np.random.default_rng(1).standard_normal((7, 6)).astype(np.float32)
  empirical_ntk(
    _recording_mlp(seen), _params(), x, method=method, block_size=4, dtype=dtype
  )
  assert seen and set(seen) <= {"highest"}, seen
  assert jax.config.jax_default_matmul_precision is None  # Restored after.


def test_block_fn_is_traced_at_highest_precision():
  seen = []
  x = np.ones((4, 6), np.float32)
  ntk_block_fn(_recording_mlp(seen))(_params(), x, x)
  assert seen and set(seen) <= {"highest"}, seen
