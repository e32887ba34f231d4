"""Model variables for tests without paying for a real initialisation.

A flax preset's first `init` compiles one small program per layer shape (eager)
or one large one (jitted): 4-9 s for LeNet-5, `cnn_tiny` or ResNet-8 on the
2-core CI machine, and half a minute for MobileNet. Tests whose subject is not
the initialisers take `filled_variables` instead: `init_variables`' shapes, from
`jax.eval_shape`, filled with fan-in-scaled normals (BatchNorm variances 1).
"""

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk import models


def filled_variables(model, input_shape, seed: int = 0):
  """Variables with the structure of `init_variables(model, ·, input_shape)`."""
  structure = jax.eval_shape(
    lambda key: models.init_variables(model, key, input_shape),
    jax.random.PRNGKey(0),
  )
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    if "'var'" in jax.tree_util.keystr(path):  # running variances stay > 0
      return jnp.ones(leaf.shape, leaf.dtype)
    fan_in = max(1, int(np.prod(leaf.shape[:-1])))
    values = rng.normal(size=leaf.shape) / np.sqrt(fan_in)
    return jnp.asarray(values, leaf.dtype)

  return jax.tree_util.tree_map_with_path(fill, structure)
