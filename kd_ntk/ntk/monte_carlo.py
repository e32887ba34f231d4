"""The empirical NTK averaged over independent initialisations (Monte Carlo).

At infinite width the average tends to the exact NTK, so it is the bridge
between `empirical_ntk` and the stax twins' kernels (`kd_ntk.ntk.infinite`).
"""

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from kd_ntk.ntk.empirical import empirical_ntk


def monte_carlo_ntk(
  f: Callable[[Any, jax.Array], jax.Array],
  init_fn: Callable[[jax.Array], Any],
  x1,
  x2=None,
  *,
  num_samples: int,
  rng: jax.Array,
  **kwargs,
) -> np.ndarray:
  """The empirical NTK averaged over `num_samples` random initialisations.

      K̄_ij = (1/m) Σ_{s=1..m} Σ_c ⟨∂f_c(x_i; θ_s)/∂θ, ∂f_c(x_j; θ_s)/∂θ⟩,
      θ_s = init_fn(rng_s)

  At infinite width (NTK parameterisation) K̄ tends to C times the
  per-logit kernel of neural-tangents' `kernel_fn(..., "ntk")`.

  Args:
    f: `f(params, x) -> logits (B, C)`.
    init_fn: `init_fn(rng) -> params`.
    x1, x2: inputs as for `empirical_ntk`.
    num_samples: number m of initialisations.
    rng: a JAX PRNG key, split into m keys.
    **kwargs: `output`, `method`, `block_size`, `dtype`, `progress`,
      `trace_reduction` of `empirical_ntk`. The compiled block functions are
      reused across samples.

  Returns:
    A float64 numpy array shaped like `empirical_ntk`'s result.
  """
  if int(num_samples) != num_samples or num_samples < 1:
    raise ValueError(
      f"num_samples must be a positive integer; got {num_samples!r}."
    )
  total = None
  for key in jax.random.split(rng, int(num_samples)):
    gram = empirical_ntk(f, init_fn(key), x1, x2, **kwargs).astype(np.float64)
    total = gram if total is None else total + gram
  return total / num_samples
