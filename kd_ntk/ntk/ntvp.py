"""Kernel blocks from NTK-vector products: no Jacobian is ever stored.

Column `(j, d)` of the kernel block is `J_a (J_jdᵀ)`: a vector-Jacobian product
of example `j` with the one-hot cotangent `e_d` gives a parameter-space vector
`v_jd = ∂f_d(x_j)/∂θ`, and a Jacobian-vector product of the whole row block in
direction `v_jd` gives `⟨∂f_c(x_i)/∂θ, v_jd⟩` for every `i, c`:

    K_ij^{cd} = ⟨∂f_c(x_i)/∂θ, ∂f_d(x_j)/∂θ⟩,   K_ij = Σ_c K_ij^{cc}.

Memory is `C` parameter vectors plus the linearised row block; time is about
`Bb·C` forward passes over the row block, so this method is the fallback for
networks whose Jacobian blocks do not fit, not the fast path.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from kd_ntk.ntk.structure import per_example_fn


def ntvp_block_fn(
  f: Callable[[Any, jax.Array], jax.Array], output: str, column_batch: int = 1
) -> Callable:
  """`block(params, x_a, x_b) -> kernel block` by NTK-vector products.

  Args:
    f: batched network function `f(params, x) -> logits (B, C)`.
    output: "trace" (Ba, Bb), "full" (Ba, Bb, C, C) or "diagonal" (Ba, Bb, C).
    column_batch: examples of `x_b` processed together (memory grows with it).
  """
  f1 = per_example_fn(f)

  def block(params, x_a, x_b):
    # Linearise the row block once; every column reuses its residuals.
    logits_a, jvp_a = jax.linearize(
      lambda p: f(p, x_a).reshape(x_a.shape[0], -1), params
    )
    num_logits = logits_a.shape[1]
    eye_CxC = jnp.eye(num_logits, dtype=logits_a.dtype)

    def column(x_j):
      _, vjp_j = jax.vjp(lambda p: f1(p, x_j), params)
      grads_d = jax.vmap(lambda e: vjp_j(e)[0])(eye_CxC)  # leaves (C_d, *leaf)
      return jax.vmap(jvp_a)(grads_d)  # (C_d, Ba, C_c)

    cols_BbxDxBaxC = jax.lax.map(column, x_b, batch_size=column_batch)
    if output == "trace":
      return jnp.einsum("jcic->ij", cols_BbxDxBaxC)
    if output == "diagonal":
      return jnp.einsum("jcic->ijc", cols_BbxDxBaxC)
    return jnp.transpose(cols_BbxDxBaxC, (2, 0, 3, 1))  # (Ba, Bb, C_c, C_d)

  return block
