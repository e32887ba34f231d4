"""The two float64 routes of `supervision_complexity`: solves of (K + λI) Y for
a path of ridges, and the spectrum diagnostics that come with each route.

* `solve_with_eigh`: one eigendecomposition K = U diag(μ) Uᵀ serves every ridge
  exactly and gives the spectrum exactly.
* `solve_with_cholesky`: one Cholesky factorisation of K + λI per ridge; the
  spectrum is probed (Lanczos for the largest eigenvalue, shift-invert Lanczos
  on the factor of K + tI for the smallest, a solve at t for the share of the
  targets outside the numerical range of K).

See `kd_ntk.complexity.supervision` for the definitions and the choice of route.
"""

import dataclasses
import math

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

# Below this size the Cholesky route takes the spectrum from a dense eigvalsh.
_DENSE_SPECTRUM_MAX_N = 64
_LANCZOS_TOLERANCE = 1e-8


@dataclasses.dataclass(frozen=True)
class _Spectrum:
  max_eigenvalue: float
  min_eigenvalue: float
  rank_tolerance: float
  condition_number: float
  outside_range_share: float
  method: str


def _make_spectrum(max_eig, min_eig, n, *, outside_share, method) -> _Spectrum:
  rank_tolerance = n * np.finfo(np.float64).eps * abs(max_eig)
  condition = math.inf if min_eig <= rank_tolerance else max_eig / min_eig
  return _Spectrum(
    float(max_eig),
    float(min_eig),
    float(rank_tolerance),
    float(condition),
    float(outside_share),
    method,
  )


def solve_with_eigh(gram_fortran, targets, absolute_ridges, eig_floor):
  """One eigendecomposition `K = U diag(μ) Uᵀ` serves every ridge:

  SC_c(λ) = Σ_i (U_iᵀ Y_c)² / (max(μ_i, floor) + λ).
  """
  n = targets.shape[0]
  eigvals, eigvecs = scipy.linalg.eigh(
    gram_fortran, lower=True, check_finite=False, driver="evd"
  )
  energy_NxC = np.square(eigvecs.T @ targets)  # (U_iᵀ Y_c)²
  energy_N = energy_NxC.sum(axis=1)
  spectrum = _make_spectrum(
    eigvals[-1], eigvals[0], n, outside_share=0.0, method="eigh"
  )
  floor = spectrum.rank_tolerance if eig_floor is None else eig_floor
  floored = np.maximum(eigvals, floor)
  t, total = spectrum.rank_tolerance, float(energy_N.sum())
  with np.errstate(
    divide="ignore", invalid="ignore"
  ):  # floor = λ = 0 gives inf
    sc_by_ridge = [
      np.sum(energy_NxC / (floored + ridge)[:, None], axis=0)
      for ridge in absolute_ridges
    ]
    outside = float(np.sum(energy_N * t / (np.maximum(eigvals, 0.0) + t)))
  outside = outside / total if total else 0.0
  return sc_by_ridge, dataclasses.replace(spectrum, outside_range_share=outside)


def _cholesky_factor(gram_fortran, shift, work_fortran):
  """Factor `K + shift·I` into the reused F-ordered buffer; None if not PD."""
  np.copyto(work_fortran, gram_fortran)
  diagonal = np.arange(work_fortran.shape[0])
  work_fortran[diagonal, diagonal] += shift
  try:
    return scipy.linalg.cho_factor(
      work_fortran, lower=True, overwrite_a=True, check_finite=False
    )
  except np.linalg.LinAlgError:
    return None


def _largest_lanczos_eigenvalue(operator, n) -> float | None:
  start = np.random.default_rng(0).standard_normal(n)  # generic, reproducible
  try:
    values = scipy.sparse.linalg.eigsh(
      operator,
      k=1,
      which="LA",
      v0=start,
      tol=_LANCZOS_TOLERANCE,
      return_eigenvectors=False,
    )
  except scipy.sparse.linalg.ArpackNoConvergence:
    return None
  return float(values[0])


def _cholesky_spectrum(gram_fortran, targets, work_fortran) -> _Spectrum | None:
  """Extreme eigenvalues and outside-range share from one factor of `K + tI`.

  `t` is the rank tolerance. Shift-invert Lanczos on `(K + tI)⁻¹` gives its top
  eigenvalue `θ = 1/(μ_min + t)`, and the outside-range share is
  `t · tr(Yᵀ (K + tI)⁻¹ Y) / ‖Y‖_F² = Σ_i w_i · t/(μ_i + t)`.
  """
  n = targets.shape[0]
  if n <= _DENSE_SPECTRUM_MAX_N:
    eigvals = scipy.linalg.eigvalsh(
      gram_fortran, lower=True, check_finite=False
    )
    max_eig, min_eig, method = eigvals[-1], eigvals[0], "eigh"
  else:
    max_eig, min_eig, method = (
      _largest_lanczos_eigenvalue(gram_fortran, n),
      None,
      "lanczos",
    )
    if max_eig is None:
      return None
  spectrum = _make_spectrum(max_eig, 0.0, n, outside_share=0.0, method=method)
  t = spectrum.rank_tolerance
  factor = _cholesky_factor(gram_fortran, t, work_fortran)
  if factor is None:
    return None
  if min_eig is None:
    inverse = scipy.sparse.linalg.LinearOperator(
      (n, n),
      matvec=lambda v: scipy.linalg.cho_solve(factor, v, check_finite=False),
      dtype=np.float64,
    )
    theta = _largest_lanczos_eigenvalue(inverse, n)
    if theta is None:
      return None
    min_eig = 1.0 / theta - t
  total = float(np.sum(np.square(targets)))
  solved = scipy.linalg.cho_solve(factor, targets, check_finite=False)
  outside = t * float(np.sum(targets * solved)) / total if total else 0.0
  return _make_spectrum(
    max_eig, min_eig, n, outside_share=outside, method=method
  )


def solve_with_cholesky(gram_fortran, targets, absolute_ridges):
  """`SC_c(λ) = Y_cᵀ α_c` with `(K + λI) α = Y` by Cholesky, one factor per
  ridge.

  Returns None when any factorisation fails, so that the caller runs eigh.
  """
  work_fortran = np.empty_like(gram_fortran, order="F")
  spectrum = _cholesky_spectrum(gram_fortran, targets, work_fortran)
  if spectrum is None:
    return None
  sc_by_ridge = []
  for ridge in absolute_ridges:
    factor = _cholesky_factor(gram_fortran, ridge, work_fortran)
    if factor is None:
      return None
    solved = scipy.linalg.cho_solve(factor, targets, check_finite=False)
    sc_by_ridge.append(np.einsum("nc,nc->c", targets, solved))
  return sc_by_ridge, spectrum
