"""Infinite-width NTK and NNGP kernels of kd_ntk's presets that have a stax
twin.

    Θ(x, x') = lim_{width→∞} Σ_c ⟨∂f_c(x)/∂θ, ∂f_c(x')/∂θ⟩ / C    (per logit)

neural-tangents computes these exactly for `stax` networks; `stax_twin`
(`kd_ntk.ntk.twins`) builds the stax network that matches a preset (MLP, plain
CNN, LeNet-5, norm-free ResNet), `infinite_kernels` evaluates it.
neural-tangents (and TensorFlow, which its import needs) is imported only when
these are called, never by `import kd_ntk.ntk`.

Without neural-tangents, `mlp_kernels_closed_form` gives the same kernels for
ReLU MLPs from the arc-cosine recursion, in numpy; `NTKParamMLP` is the flax
network (NTK parameterisation) whose Monte-Carlo NTK converges to them.

Conventions: neural-tangents returns the kernel of one logit (logits are
i.i.d. at infinite width). `output="trace"` multiplies by C, matching the sum
over logits of `kd_ntk.ntk.empirical_ntk(..., output="trace")`.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from kd_ntk.ntk.nt_import import (  # noqa: F401  (re-exported)
  import_neural_tangents,
  missing_package_error,
)
from kd_ntk.ntk.planning import x64_scope
from kd_ntk.ntk.twins import stax_twin  # noqa: F401  (re-exported)


def _scale(output: str, num_classes: int) -> float:
  if output not in ("trace", "per_logit"):
    raise ValueError(f"output must be 'trace' or 'per_logit'; got {output!r}.")
  return float(num_classes) if output == "trace" else 1.0


def infinite_kernels(
  name: str,
  x1,
  x2=None,
  *,
  num_classes: int,
  get: Sequence[str] = ("nngp", "ntk"),
  output: str = "trace",
  parameterization: str = "standard",
  W_std: float = 1.0,
  b_std: float | None = 0.0,
  batch_size: int = 0,
  **model_kwargs,
) -> dict[str, np.ndarray]:
  """Exact infinite-width kernels of the stax twin of preset `name`.

      ntk_ij = C · Θ(x_i, x_j)   (output="trace"; Θ is neural-tangents' kernel)

  Args:
    name, num_classes, parameterization, W_std, b_std, **model_kwargs: as for
      `stax_twin`.
    x1: inputs (n1, H, W, C_in); x2: (n2, ...) or None for x1 against itself.
    get: which kernels, among "nngp" and "ntk".
    output: "trace" (sum over logits, comparable with `empirical_ntk`) or
      "per_logit" (neural-tangents' convention).
    batch_size: > 0 computes in blocks with `nt.batch` (must divide n).

  Returns:
    {"nngp": (n1, n2), "ntk": (n1, n2)} as float64 numpy arrays (computed with
    float64 enabled).
  """
  scale = _scale(output, num_classes)
  nt = import_neural_tangents()
  _, _, kernel_fn = stax_twin(
    name,
    num_classes,
    parameterization=parameterization,
    W_std=W_std,
    b_std=b_std,
    **model_kwargs,
  )
  if batch_size:
    kernel_fn = nt.batch(
      kernel_fn, batch_size=batch_size, store_on_device=False
    )
  get = tuple(get)
  with x64_scope():
    a = jnp.asarray(np.asarray(x1), jnp.float64)
    b = None if x2 is None else jnp.asarray(np.asarray(x2), jnp.float64)
    kernels = kernel_fn(a, b, get)
    return {g: scale * np.asarray(k, np.float64) for g, k in zip(get, kernels)}


def _relu_expectations(cov12, var1, var2) -> tuple[np.ndarray, np.ndarray]:
  """E[relu(u) relu(v)] and E[relu'(u) relu'(v)], (u, v) centred Gaussians."""
  norm = np.sqrt(np.maximum(var1 * var2, 1e-300))
  cos = np.clip(cov12 / norm, -1.0, 1.0)
  theta = np.arccos(cos)
  e_phi = norm * (np.sin(theta) + (np.pi - theta) * cos) / (2 * np.pi)
  e_dphi = (np.pi - theta) / (2 * np.pi)
  return e_phi, e_dphi


def mlp_kernels_closed_form(
  x1,
  x2=None,
  *,
  depth: int,
  num_classes: int,
  width: int | None = None,
  parameterization: str = "ntk",
  W_std: float = 1.0,
  b_std: float | None = 0.0,
  output: str = "trace",
) -> dict[str, np.ndarray]:
  """NNGP and NTK of a ReLU MLP at infinite width, in closed form (numpy
  float64).

  The arc-cosine recursion, with inputs flattened and covariances normalised by
  the input size d, in neural-tangents' conventions:

      Σ⁰ = x·x'/d,                  Σ^{l+1} = W_std² E[φ(u)φ(v)] + b_std²
      NTK param:      Θ^{l+1} = Σ^{l+1} + W_std² E[φ'(u)φ'(v)] Θ^l
      standard param: Θ^{l+1} = n_l E[φ(u)φ(v)] + W_std² E[φ'(u)φ'(v)] Θ^l +
      [bias]

  (u, v) ~ N(0, Σ^l), n_l the width feeding the layer (d for the first). The
  "standard" form is the finite-width expectation of the flax MLP presets.

  Args:
    x1, x2: inputs (n, ...) flattened per example; x2 None for x1 itself.
    depth: number of hidden ReLU layers.
    num_classes: C (only scales output="trace").
    width: hidden width (needed for parameterization="standard").
    parameterization: "ntk" or "standard".
    W_std, b_std: weight and bias scales (b_std None: no bias).
    output: "trace" (C times the per-logit kernel) or "per_logit".

  Returns:
    {"nngp": (n1, n2), "ntk": (n1, n2)} float64.
  """
  scale = _scale(output, num_classes)
  if parameterization not in ("ntk", "standard"):
    raise ValueError(
      f"parameterization must be 'ntk' or 'standard'; got {parameterization!r}."
    )
  if parameterization == "standard" and depth > 0 and not width:
    raise ValueError("parameterization='standard' needs the hidden width.")
  a = np.asarray(x1, np.float64).reshape(len(x1), -1)
  b = a if x2 is None else np.asarray(x2, np.float64).reshape(len(x2), -1)
  d = a.shape[1]
  bias_var = 0.0 if b_std is None else b_std**2
  cross, var_a, var_b = a @ b.T / d, np.sum(a * a, 1) / d, np.sum(b * b, 1) / d
  ntk = np.zeros_like(cross)
  fan_in = d
  for layer in range(depth + 1):
    if layer:  # ReLU on the previous pre-activations
      e_cross, e_dcross = _relu_expectations(
        cross, var_a[:, None], var_b[None, :]
      )
      e_var_a = var_a / 2  # E[relu(u)²] = Var(u)/2
      e_var_b = var_b / 2
      ntk = ntk * e_dcross
      cross, var_a, var_b = e_cross, e_var_a, e_var_b
    # Dense layer: affine map of the covariance, then its own gradient term.
    if parameterization == "ntk":
      cross, var_a, var_b = (
        W_std**2 * cross + bias_var,
        W_std**2 * var_a + bias_var,
        W_std**2 * var_b + bias_var,
      )
      ntk = cross + W_std**2 * ntk
    else:
      ntk = fan_in * cross + W_std**2 * ntk + (0.0 if b_std is None else 1.0)
      cross, var_a, var_b = (
        W_std**2 * cross + bias_var,
        W_std**2 * var_a + bias_var,
        W_std**2 * var_b + bias_var,
      )
    fan_in = width or fan_in
  return {"nngp": scale * cross, "ntk": scale * ntk}


class NTKParamMLP(nn.Module):
  """A ReLU MLP in NTK parameterisation: the flax twin of `stax_twin(...,
  parameterization="ntk")` and of `mlp_kernels_closed_form`.

      h^{l+1} = W_std/sqrt(n_l) · h^l W^l + b_std · b^l,   W, b ~ N(0, 1)

  Attributes:
    num_classes: number of logits C.
    width: hidden width.
    depth: number of hidden ReLU layers.
    W_std: weight scale.
    b_std: bias scale (None: no bias).
  """

  num_classes: int
  width: int = 512
  depth: int = 1
  W_std: float = 1.0
  b_std: float | None = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # no train-mode behaviour
    h = x.reshape((x.shape[0], -1))
    widths = [self.width] * self.depth + [self.num_classes]
    for layer, out in enumerate(widths):
      kernel = self.param(
        f"kernel_{layer}", nn.initializers.normal(1.0), (h.shape[1], out)
      )
      # Scale after the product: the weight enters one dense contraction.
      z = (h @ kernel) * (self.W_std / np.sqrt(h.shape[1]))
      if self.b_std is not None:
        z = z + self.b_std * self.param(
          f"bias_{layer}", nn.initializers.normal(1.0), (out,)
        )
      h = nn.relu(z) if layer < self.depth else z
    return h
