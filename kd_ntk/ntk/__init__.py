"""Neural tangent kernels: kd_ntk's own empirical NTK engine and infinite-width
kernels.

    K_ij = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩

`empirical_ntk`, `monte_carlo_ntk` and `ntk_block_fn` use public JAX APIs only
and run on any JAX; `kd_ntk.ntk.infinite` wraps neural-tangents' exact
infinite-width kernels and imports it (and TensorFlow) only when called.
"""

from kd_ntk.ntk.empirical import empirical_ntk, ntk_block_fn
from kd_ntk.ntk.monte_carlo import monte_carlo_ntk
from kd_ntk.ntk.explain import Explanation, explain
from kd_ntk.ntk.fn_cache import FunctionCache
from kd_ntk.ntk.infinite import (
  NTKParamMLP,
  infinite_kernels,
  mlp_kernels_closed_form,
  stax_twin,
)
from kd_ntk.ntk.planning import METHODS, OUTPUTS, x64_enabled, x64_scope
from kd_ntk.ntk.structure import factorisable_leaves

__all__ = [
  "METHODS",
  "OUTPUTS",
  "Explanation",
  "FunctionCache",
  "NTKParamMLP",
  "empirical_ntk",
  "explain",
  "factorisable_leaves",
  "infinite_kernels",
  "mlp_kernels_closed_form",
  "monte_carlo_ntk",
  "ntk_block_fn",
  "stax_twin",
  "x64_enabled",
  "x64_scope",
]
