"""Shared helpers of the tests/ntk tests: random parameters and the J Jᵀ oracle."""

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk.models import get_model, inference_fn
from kd_ntk.ntk import x64_scope

F32_TOL = 1e-5
F64_TOL = 1e-10


def perturb(params, seed=1, scale=0.1):
  """Random noise on every leaf, so zero-initialised gains and biases matter.

  numpy noise: eager jax.random would compile once per leaf shape.
  """
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map(
    lambda a: a + scale * rng.standard_normal(a.shape).astype(a.dtype), params
  )


def random_params(model, x, seed=0):
  """LeCun-normal kernels, N(0, 0.1²) vectors and scalars, drawn in numpy.

  Only shapes come from flax (`eval_shape`): compiling `init` would dominate
  the test time, and the NTK identities hold at any parameters.
  """
  shapes = jax.eval_shape(
    lambda: model.init(jax.random.PRNGKey(0), x, train=False)
  )
  rng = np.random.default_rng(seed)

  def draw(s):
    scale = 1.0 / np.sqrt(np.prod(s.shape[:-1])) if len(s.shape) >= 2 else 0.1
    return (scale * rng.standard_normal(s.shape)).astype(np.float32)

  return jax.tree_util.tree_map(draw, shapes)


def setup_net(name, shape, n, num_classes=3, seed=0, **kwargs):
  model = get_model(name, num_classes, **kwargs)
  x = (
    np.random.default_rng(seed + 2)
    .standard_normal((n,) + shape)
    .astype(np.float32)
  )
  f, params = inference_fn(model, random_params(model, x[:1], seed))
  return f, params, x


def reference_full(f, params, x1, x2=None):
  """(n1, n2, C, C) kernel from the float64 Jacobian of the batched function."""
  with x64_scope():
    p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)

    @jax.jit
    def flat_jac(x):
      jac = jax.jacrev(lambda p: f(p, x))(p64)
      leaves = jax.tree_util.tree_leaves(jac)
      return jnp.concatenate(
        [l.reshape(l.shape[0], l.shape[1], -1) for l in leaves], -1
      )

    j1 = flat_jac(jnp.asarray(x1, jnp.float64))
    j2 = j1 if x2 is None else flat_jac(jnp.asarray(x2, jnp.float64))
    return np.asarray(jnp.einsum("icp,jdp->ijcd", j1, j2))


def rel_error(a, b):
  return float(
    np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b))
  )
