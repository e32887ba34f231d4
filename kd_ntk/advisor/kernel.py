"""The student's NTK at initialisation, computed once, and its one
factorisation.

On the kernel subset X (n examples) and the validation split V (m examples):

  K   = Θ(X, X)  (n×n),   K_V = Θ(V, X)  (m×n),
  Θ(a, b) = Σ_c ⟨∂f_c(a)/∂θ, ∂f_c(b)/∂θ⟩ at the initial parameters θ_0,

from one symmetric Gram matrix of [X; V] (one call of the kernel engine, one
compilation; the V×V block is not used). `K + λI = L Lᵀ` is factorised once,
with `λ = ridge · tr(K)/n` (the ridge convention of
`kd_ntk.complexity.supervision_complexity`), and every candidate target matrix
Y reuses the factor:

  α = (K + λI)⁻¹ Y,   SC = tr(Yᵀ α),   ASC = (1/n) sqrt(SC · tr K),
  ŷ_X = K α (the linearised student on X),   ŷ_V = K_V α (on V).

Targets of all candidates are solved together as the columns of one matrix.
"""

import math

import numpy as np
import scipy.linalg

from kd_ntk.ntk.empirical import empirical_ntk

# Relative ridge: λ = ridge · tr(K)/n (as the complexity runs use).
DEFAULT_RIDGE = 1e-6
# If K + λI is not positive definite in float64, λ grows by this factor (at
# most MAX_RIDGE_STEPS times); the ridge used is reported.
RIDGE_GROWTH = 10.0
MAX_RIDGE_STEPS = 6


class StudentKernel:
  """K, K_V and the Cholesky factor of K + λI (see the module docstring).

  Args:
    gram_NxN: K, symmetric PSD (symmetrised here against float32 round-off).
    cross_MxN: K_V (may have 0 rows).
    ridge: relative ridge.
  """

  def __init__(self, gram_NxN, cross_MxN, ridge: float = DEFAULT_RIDGE):
    gram = np.asarray(gram_NxN, np.float64)
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or len(gram) < 2:
      raise ValueError(f"gram_NxN must be square with n ≥ 2; got {gram.shape}.")
    cross = np.asarray(cross_MxN, np.float64)
    if cross.ndim != 2 or cross.shape[1] != gram.shape[0]:
      raise ValueError(
        f"cross_MxN must have {gram.shape[0]} columns; got {cross.shape}."
      )
    if not (np.isfinite(gram).all() and np.isfinite(cross).all()):
      raise ValueError("the student's NTK contains NaN or inf.")
    if not (math.isfinite(ridge) and ridge > 0):
      raise ValueError(f"ridge must be a finite number > 0; got {ridge!r}.")
    self.gram = (gram + gram.T) / 2
    self.cross = cross
    self.n = len(gram)
    self.trace = float(np.trace(self.gram))
    if self.trace <= 0:
      raise ValueError(f"the student's NTK has trace {self.trace:.3g} ≤ 0.")
    self.ridge_requested = float(ridge)
    self._factor(float(ridge))

  def _factor(self, ridge: float) -> None:
    for _ in range(MAX_RIDGE_STEPS + 1):
      self.ridge = ridge
      self.ridge_absolute = ridge * self.trace / self.n
      shifted = self.gram + self.ridge_absolute * np.eye(self.n)
      try:
        self._cho = scipy.linalg.cho_factor(
          shifted, lower=True, check_finite=False
        )
        return
      except np.linalg.LinAlgError:
        ridge *= RIDGE_GROWTH
    raise ValueError(
      f"K + λI is not positive definite even at relative ridge {ridge:g}; "
      "the student's NTK is broken (check the network for NaN or zero outputs)."
    )

  @classmethod
  def compute(
    cls,
    f,
    params,
    x_train,
    x_validation,
    *,
    ridge: float = DEFAULT_RIDGE,
    float64: bool = True,
    block_size=None,
  ) -> "StudentKernel":
    """Θ on [X; V] in one call of `kd_ntk.ntk.empirical_ntk` (trace output)."""
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

    x_train = np.asarray(x_train)
    x_validation = np.asarray(x_validation)
    both = (
      np.concatenate([x_train, x_validation]) if len(x_validation) else x_train
    )
    gram = np.asarray(
      empirical_ntk(
        f,
        params,
        both,
        output="trace",
        dtype=jnp.float64 if float64 else None,
        block_size=block_size,
      ),
      np.float64,
    )
    n = len(x_train)
    return cls(gram[:n, :n], gram[n:, :n], ridge)

  def solve(self, targets_NxK) -> np.ndarray:
    """α = (K + λI)⁻¹ Y for any number of columns."""
    targets = np.asarray(targets_NxK, np.float64)
    if targets.shape[0] != self.n:
      raise ValueError(
        f"targets have {targets.shape[0]} rows; the kernel has n = {self.n}."
      )
    return scipy.linalg.cho_solve(self._cho, targets, check_finite=False)

  def supervision_complexity(self, targets_NxC, alpha_NxC=None) -> float:
    """SC = tr(Yᵀ (K + λI)⁻¹ Y)."""
    targets = np.asarray(targets_NxC, np.float64)
    alpha = self.solve(targets) if alpha_NxC is None else alpha_NxC
    return float(np.sum(targets * alpha))

  def asc(self, sc: float) -> float:
    """ASC = (1/n) · sqrt(SC · tr K)."""
    return math.sqrt(max(sc, 0.0) * self.trace) / self.n

  def predict_train(self, alpha_NxC) -> np.ndarray:
    """The linearised student on X: K α."""
    return self.gram @ alpha_NxC

  def predict_validation(self, alpha_NxC) -> np.ndarray:
    """The linearised student on V: K_V α."""
    return self.cross @ alpha_NxC
