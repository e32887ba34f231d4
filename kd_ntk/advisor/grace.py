"""A GRACE-style score: the student's projected per-example gradients on the
teacher's targets, normalised, with eigenvalue shrinkage and a held-out trace.

Written from the description of GRACE in Panigrahi, Liu, Malladi, Kakade, Goel,
"In Good GRACEs: Principled Teacher Selection for Knowledge Distillation"
(ICLR 2026, arXiv 2511.02833): a score of the *student's* gradients on the
teacher's data, cross-validated between two halves of the examples, with a
spectrum-smoothed second-moment preconditioner; connected there to the
leave-one-out stability of gradient training, so lower is better. The paper
scores generated text for language models; this is an adaptation to soft
targets, not the authors' code, and its constants are ours.

For candidate targets Y = softmax(z_T/τ) and the student f at initialisation
θ_0 (logits z_0), the gradient of example i of the distillation loss
`τ² · CE(Y_i, softmax(z/τ))` is `J_iᵀ r_i` with
`r_i = τ (softmax(z_0,i/τ) − Y_i)` and `J_i = ∂f(x_i)/∂θ` (C×P). With a Gaussian
projection `R ∈ R^{P×d}` (entries N(0, 1/d)), computed ONCE for all candidates:

  Φ_i = J_i R  (C×d),     g_i = Φ_iᵀ r_i  (d),

then, for a fixed random split of the examples into halves A and B:

  ĝ_i   = g_i / sqrt((1/|A|) Σ_{j∈A} ‖g_j‖²)       (normalised by A's RMS)
  Σ_A   = (1/|A|) Σ_{i∈A} ĝ_i ĝ_iᵀ = U diag(μ) Uᵀ
  Σ̃_A  = U diag((1 − ν) μ + ν · tr(Σ_A)/d) Uᵀ     (eigenvalue shrinkage)
  T_A→B = (1/(d |B|)) Σ_{i∈B} ĝ_iᵀ Σ̃_A⁻¹ ĝ_i
        = tr(Σ̃_A⁻¹ Σ_B)/d                          (held-out trace)
  GRACE = (T_A→B + T_B→A) / 2.

Isotropic gradients give GRACE ≈ 1; held-out gradients in directions the other
half rarely visits (unstable, example-specific targets) give more. The score
is invariant to rescaling all gradients (τ and the targets' overall scale).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

DEFAULT_DIM = 256
DEFAULT_SHRINKAGE = 0.1
# Per-batch Jacobian memory of the projection (float32 bytes).
JACOBIAN_BYTES = 256 * 2**20


def projected_jacobians(
  f, params, x, *, dim: int = DEFAULT_DIM, seed: int = 0
) -> np.ndarray:
  """Φ = J R for every example: shape (n, C, d), float32.

  Args:
    f: the student `f(params, x) -> logits (B, C)`.
    params: θ_0.
    x: inputs (n, ...).
    dim: d, columns of the Gaussian projection R (entries N(0, 1/d)).
    seed: seed of R.
  """
  flat, unravel = ravel_pytree(params)
  flat = flat.astype(jnp.float32)
  projection = jax.random.normal(
    jax.random.PRNGKey(seed), (flat.size, dim), jnp.float32
  ) / math.sqrt(dim)

  def logits_one(p, x_one):
    return f(unravel(p), x_one[None])[0]

  @jax.jit
  def block(p, xb, r):
    jac = jax.vmap(jax.jacrev(logits_one), in_axes=(None, 0))(p, xb)  # (B,C,P)
    return jnp.einsum("bcp,pd->bcd", jac, r)

  x = np.asarray(x)
  num_logits = int(jax.eval_shape(lambda: f(params, x[:1])).shape[-1])
  batch = int(
    max(1, min(len(x), JACOBIAN_BYTES // (4 * num_logits * flat.size)))
  )
  out = []
  for start in range(0, len(x), batch):
    xb = x[start : start + batch]
    pad = batch - len(xb)  # pad the last block: one compilation
    if pad:
      xb = np.concatenate([xb, np.repeat(xb[-1:], pad, axis=0)])
    out.append(np.asarray(block(flat, xb, projection))[: batch - pad])
  return np.concatenate(out)


def gradients(features_NxCxD, student_logits_NxC, targets_NxC, temperature):
  """g_i = Φ_iᵀ r_i with r_i = τ (softmax(z_0,i/τ) − Y_i); shape (n, d)."""
  z = np.asarray(student_logits_NxC, np.float64) / float(temperature)
  z -= z.max(axis=1, keepdims=True)
  probs = np.exp(z)
  probs /= probs.sum(axis=1, keepdims=True)
  residual = float(temperature) * (probs - np.asarray(targets_NxC, np.float64))
  features = np.asarray(features_NxCxD, np.float64)
  return np.matmul(residual[:, None, :], features)[:, 0]  # batched (1×C)(C×d)


def split_halves(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """A fixed random split of range(n) into halves A and B."""
  if n < 4:
    raise ValueError(f"GRACE needs at least 4 examples; got {n}.")
  order = np.random.default_rng(seed).permutation(n)
  return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def held_out_trace(
  fit_NxD, held_out_MxD, shrinkage: float = DEFAULT_SHRINKAGE
) -> float:
  """T = tr(Σ̃_fit⁻¹ Σ_held)/d, both normalised by the fitting half's RMS norm.

  Returns nan when every fitting gradient is zero (nothing to normalise by).
  """
  if not 0 < shrinkage <= 1:
    raise ValueError(f"shrinkage must lie in (0, 1]; got {shrinkage!r}.")
  fit = np.asarray(fit_NxD, np.float64)
  held = np.asarray(held_out_MxD, np.float64)
  dim = fit.shape[1]
  rms = math.sqrt(float(np.mean(np.sum(fit * fit, axis=1))))
  if rms == 0 or not math.isfinite(rms):
    return math.nan
  fit, held = fit / rms, held / rms
  second_moment = fit.T @ fit / len(fit)
  mu, u = np.linalg.eigh(second_moment)
  mu = np.clip(mu, 0.0, None)
  shrunk = (1 - shrinkage) * mu + shrinkage * float(np.sum(mu)) / dim
  coords = held @ u  # (m, d)
  return float(np.mean(np.sum(coords * coords / shrunk, axis=1)) / dim)


def grace_score(
  grads_NxD, *, shrinkage: float = DEFAULT_SHRINKAGE, seed: int = 0
) -> float:
  """GRACE = (T_A→B + T_B→A)/2 over a fixed random split (module docstring)."""
  grads = np.asarray(grads_NxD, np.float64)
  a, b = split_halves(len(grads), seed)
  return 0.5 * (
    held_out_trace(grads[a], grads[b], shrinkage)
    + held_out_trace(grads[b], grads[a], shrinkage)
  )
