"""Symmetric kernels come out bitwise symmetric, on every method, output,
layout, dtype and instruction set; the solver's tolerance follows the dtype.

A float32 product A·Aᵀ is not bitwise symmetric on every CPU (on an AVX2-only
machine kd_ntk's own Gram was refused by its own solver). The assertions here
are exact (`array_equal`), so they hold on any machine or none.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk import symmetry
from kd_ntk.complexity import one_hot, supervision_complexity
from kd_ntk.ntk import empirical_ntk

_RNG = np.random.default_rng(0)


def _mirror(k):
  return k.transpose(1, 0, 3, 2) if k.ndim == 4 else np.swapaxes(k, 0, 1)


def _conv_net(p, x):
  """A plain-JAX conv net (no flax): conv → tanh → mean pool → dense."""
  dn = ("NHWC", "HWIO", "NHWC")
  h = jax.lax.conv_general_dilated(
    x, p["w"], (1, 1), "SAME", dimension_numbers=dn
  )
  return jnp.tanh(h + p["b"]).mean(axis=(1, 2)) @ p["v"]


_PARAMS = {
  "w": 0.3 * _RNG.standard_normal((3, 3, 1, 8)).astype(np.float32),
  "b": np.zeros(8, np.float32),
  "v": 0.3 * _RNG.standard_normal((8, 4)).astype(np.float32),
}
_X = _RNG.standard_normal((150, 8, 8, 1)).astype(np.float32)


@pytest.mark.parametrize("output", ["trace", "full", "diagonal"])
def test_symmetrize_is_exact_and_keeps_agreeing_pairs(output):
  n, c = 1100, 3  # two row blocks of the in-place pass
  shape = {"trace": (n, n), "full": (n, n, c, c), "diagonal": (n, n, c)}[output]
  base = _RNG.standard_normal(shape[:2] + shape[2:]).astype(np.float32)
  k = base + _mirror(base)  # symmetric
  k[5, 7] += np.float32(1e-3)  # one pair off by round-off-like noise
  before = k.copy()
  got = symmetry.symmetrize_(k)
  assert got is k
  np.testing.assert_array_equal(got, _mirror(got))
  # Pairs that already agreed are unchanged bit for bit; the broken one is averaged.
  changed = np.argwhere(got != before)
  assert {tuple(i[:2]) for i in changed} <= {(5, 7), (7, 5)}
  np.testing.assert_allclose(
    got[5, 7], before[5, 7] - np.float32(5e-4), rtol=1e-6
  )


def test_symmetrize_refuses_non_square():
  with pytest.raises(ValueError, match="square"):
    symmetry.symmetrize_(np.zeros((3, 4)))


@pytest.mark.parametrize(
  "method, dtype",
  [
    (m, d)
    for m in ("auto", "jacobian", "structured")
    for d in (None, jnp.float64)
  ]
  # ntvp computes in the model's own dtype (a dtype is refused).
  + [("ntvp", None)],
)
def test_own_gram_is_bitwise_symmetric(method, dtype):
  for output in ("trace", "full", "diagonal"):
    gram = empirical_ntk(
      _conv_net,
      _PARAMS,
      _X,
      output=output,
      method=method,
      dtype=dtype,
      block_size=64,
    )
    np.testing.assert_array_equal(gram, _mirror(gram))


@pytest.mark.parametrize("layout", ["blocked", "streamed"])
def test_own_gram_is_bitwise_symmetric_per_layout(layout):
  gram = empirical_ntk(
    _conv_net, _PARAMS, _X, method="structured", layout=layout, block_size=64
  )
  np.testing.assert_array_equal(gram, gram.T)


def test_own_float32_gram_passes_the_solver():
  gram = empirical_ntk(_conv_net, _PARAMS, _X, method="jacobian")
  assert gram.dtype == np.float32
  labels = np.arange(len(_X)) % 4
  result = supervision_complexity(one_hot(labels, 4), gram)
  assert np.isfinite(result.asc)


def test_tolerance_follows_the_dtype():
  eps32, eps64 = np.finfo(np.float32).eps, np.finfo(np.float64).eps
  assert symmetry.symmetry_tolerance_for(np.float32) == pytest.approx(
    256 * eps32
  )
  assert symmetry.symmetry_tolerance_for(np.float64) == pytest.approx(
    256 * eps64
  )
  a = _RNG.standard_normal((40, 40))
  k64 = a @ a.T + 40 * np.eye(40)
  y = one_hot(np.arange(40) % 4, 4)
  scale = np.abs(k64).max()
  # float32 round-off (a few eps) passes in float32 ...
  k32 = k64.astype(np.float32)
  k32[0, 1] += 4 * eps32 * scale
  supervision_complexity(y, k32)
  # ... but the same relative asymmetry is a mistake in float64,
  k64_off = k64.copy()
  k64_off[0, 1] += 4 * eps32 * scale
  with pytest.raises(ValueError, match="not symmetric"):
    supervision_complexity(y, k64_off)
  # unless the caller states the dtype it was computed in.
  supervision_complexity(
    y, k64_off, symmetry_tolerance=symmetry.symmetry_tolerance_for(np.float32)
  )
  # A real mistake is refused in float32 too.
  k32[0, 1] += 1e-3 * scale
  with pytest.raises(ValueError, match="not symmetric"):
    supervision_complexity(y, k32)


_ISA_SCRIPT = textwrap.dedent(
  """
  import json, sys
  import numpy as np
  sys.path.insert(0, sys.argv[1])
  import test_symmetry as t
  from kd_ntk.complexity import one_hot, supervision_complexity
  from kd_ntk.ntk import empirical_ntk
  out = {}
  for method in ("jacobian", "structured", "ntvp"):
    g = empirical_ntk(t._conv_net, t._PARAMS, t._X, method=method)
    out[method] = bool(np.array_equal(g, g.T))
    supervision_complexity(one_hot(np.arange(len(g)) % 4, 4), g)
  print(json.dumps(out))
  """
)


@pytest.mark.parametrize("isa", ["AVX2", "SSE4_2"])
def test_symmetric_under_other_instruction_sets(isa):
  """XLA:CPU limited to an older instruction set computes other float32 bits;
  the Gram must still be exactly symmetric and accepted by the solver."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_cpu_max_isa={isa}"
  done = subprocess.run(
    [sys.executable, "-c", _ISA_SCRIPT, os.path.dirname(__file__)],
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  result = json.loads(done.stdout.strip().splitlines()[-1])
  assert result == {"jacobian": True, "structured": True, "ntvp": True}
