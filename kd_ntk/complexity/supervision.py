"""Supervision complexity of targets under a kernel, with ridge diagnostics.

Harutyunyan, Rawat, Menon, Kim, Kumar, "Supervision Complexity and its Role in
Knowledge Distillation", ICLR 2023, arXiv 2301.12245. For targets
`Y ∈ R^{n×C}` and a PSD Gram matrix `K ∈ R^{n×n}` (the student's NTK):

  SC(Y, K)  = tr(Yᵀ (K + λI)⁻¹ Y) = Σ_c Y_cᵀ (K + λI)⁻¹ Y_c,
  ASC(Y, K) = (1/n) · sqrt(SC · tr K),
  ASC_root  = (1/n) · Σ_c sqrt(Y_cᵀ (K + λI)⁻¹ Y_c · tr K),

with `λ = ridge · tr(K)/n`, so every quantity is invariant to `K → cK`.

Two routes, both float64 numpy/scipy (no JAX):

* "cholesky" (default): one Cholesky factorisation of `K + λI` per ridge of the
  path. On 2 cores at n = 10,000: 5 s per factorisation against 107 s for one
  `eigh` (73 s for eigenvalues alone), so it wins at every size measured
  (experiments/benchmarks/bench_complexity.py). The spectrum is probed instead:
  the largest eigenvalue by Lanczos on K, the smallest by shift-invert Lanczos
  on the factor of `K + tI` (`t` the rank tolerance), the outside-range share by
  a solve at `t`.
* "eigh": one eigendecomposition serves every ridge exactly and gives the
  spectrum exactly; eigenvalues are floored at `eig_floor` before `+ λ`.

If any Cholesky factorisation fails (K indefinite beyond round-off, or `λ = 0`
on a singular K), the eigh route runs instead and `method_used` says so.
"""

import dataclasses
import math

import numpy as np

from kd_ntk.complexity import solvers
from kd_ntk.symmetry import symmetry_tolerance_for

DEFAULT_RIDGE_PATH = (1e-8, 1e-6, 1e-4, 1e-2)
# ASC may move by at most this relative amount between the chosen ridge and its
# neighbours on the path before the value counts as set by the ridge.
RIDGE_SENSITIVITY_TOLERANCE = 0.05
# Share of ‖Y‖_F² outside the numerical range of K above which the value counts
# as set by the ridge (a secondary check; the ridge path is the primary one).
OUTSIDE_RANGE_TOLERANCE = 1e-4
METHODS = ("cholesky", "eigh")


@dataclasses.dataclass(frozen=True, eq=False)
class ComplexityResult:
  """Supervision complexity of one target matrix under one Gram matrix.

  Attributes:
    sc: `tr(Yᵀ (K + λI)⁻¹ Y)` at the chosen ridge.
    sc_per_class: `Y_cᵀ (K + λI)⁻¹ Y_c`, shape (C,); sums to `sc`.
    asc: `(1/n) sqrt(sc · tr K)`, the y-axis of the paper's figures.
    asc_per_class_root: `(1/n) Σ_c sqrt(sc_c · tr K)` (class sum outside the
      root).
    n: number of examples; num_classes: C; trace_k: tr K.
    ridge_relative: the `ridge` argument; ridge_used: absolute
      `λ = ridge·tr K/n`.
    ridge_path: `((relative ridge, sc, asc), ...)`, sorted, chosen ridge
      included.
    ridge_sensitivity: max relative change of ASC from the chosen ridge to its
      neighbours on the path (nan without neighbours).
    max_eigenvalue, min_eigenvalue: extreme eigenvalues of K (estimates on the
      Cholesky route, to about 1e-6 relative).
    rank_tolerance: `n · eps · max_eigenvalue` (numpy's matrix_rank convention).
    condition_number: `max_eig / min_eig`; inf when `min_eig ≤ rank_tolerance`.
    outside_range_share: `t · tr(Yᵀ (K + tI)⁻¹ Y) / ‖Y‖_F²` at
      `t = rank_tolerance`: the share of ‖Y‖_F² in eigen-directions of K below
      the rank tolerance, with a soft threshold (directions with eigenvalue μ
      count `t/(μ + t)`).
    ridge_dominated: True when the value is set by the ridge, not by K: `ridge_
      sensitivity > ridge_tolerance` or `outside_range_share >
      outside_share_tolerance`.
    method_requested, method_used: "cholesky" or "eigh"; they differ after a
      Cholesky failure.
    spectrum_method: "eigh" (exact) or "lanczos" (estimated).
  """

  sc: float
  sc_per_class: np.ndarray
  asc: float
  asc_per_class_root: float
  n: int
  num_classes: int
  trace_k: float
  ridge_relative: float
  ridge_used: float
  ridge_path: tuple
  ridge_sensitivity: float
  max_eigenvalue: float
  min_eigenvalue: float
  rank_tolerance: float
  condition_number: float
  outside_range_share: float
  ridge_dominated: bool
  method_requested: str
  method_used: str
  spectrum_method: str

  def as_dict(self, include_per_class: bool = False) -> dict:
    """Flat dict of plain Python scalars for one CSV/JSONL row.

    Args:
      include_per_class: also emit `sc_class_{c}` columns.

    Returns:
      Every scalar field, plus `sc_ridge_{r:g}` / `asc_ridge_{r:g}` per path
      ridge.
    """
    row = {
      field.name: getattr(self, field.name)
      for field in dataclasses.fields(self)
      if field.name not in ("sc_per_class", "ridge_path")
    }
    for relative, sc, asc in self.ridge_path:
      row[f"sc_ridge_{relative:g}"] = sc
      row[f"asc_ridge_{relative:g}"] = asc
    if include_per_class:
      for c, value in enumerate(self.sc_per_class):
        row[f"sc_class_{c}"] = float(value)
    return row


def _validate_targets(targets_NxC) -> np.ndarray:
  targets = np.asarray(targets_NxC)
  if targets.ndim != 2:
    raise ValueError(
      f"targets_NxC must be 2-D (N, C); got shape {targets.shape}. "
      "Use targets[:, None] for a single output."
    )
  if not np.issubdtype(targets.dtype, np.number) or np.iscomplexobj(targets):
    raise ValueError(
      f"targets_NxC must be real numbers; got dtype {targets.dtype}."
    )
  targets = np.ascontiguousarray(targets, dtype=np.float64)
  if not np.isfinite(targets).all():
    raise ValueError("targets_NxC contains NaN or inf.")
  if targets.shape[0] < 2 or targets.shape[1] < 1:
    raise ValueError(
      f"Need at least 2 examples and 1 column; got shape {targets.shape}."
    )
  return targets


def _validate_ridges(ridge, ridge_path, eig_floor):
  for name, value in [("ridge", ridge)] + [
    ("ridge_path entry", r) for r in ridge_path
  ]:
    if not (
      isinstance(value, (int, float, np.floating, np.integer))
      and math.isfinite(value)
      and value >= 0
    ):
      raise ValueError(f"{name} must be a finite number ≥ 0; got {value!r}.")
  if eig_floor is not None and not (
    math.isfinite(eig_floor) and eig_floor >= 0
  ):
    raise ValueError(
      f"eig_floor must be None or a finite number ≥ 0; got {eig_floor!r}."
    )


def _validate_gram(
  gram_NxN, n: int, symmetry_tolerance: float | None
) -> np.ndarray:
  """Checks shape, finiteness and symmetry block by block (no n×n temporaries).

  The symmetry tolerance, unless given, follows from K's dtype (see
  `supervision_complexity`).
  """
  gram = np.asarray(gram_NxN)
  if gram.ndim != 2 or gram.shape[0] != gram.shape[1]:
    raise ValueError(f"gram_NxN must be square (N, N); got shape {gram.shape}.")
  if gram.shape[0] != n:
    raise ValueError(
      f"Shape mismatch: targets_NxC has N={n} rows but gram_NxN is "
      f"{gram.shape[0]}x{gram.shape[1]}."
    )
  if not np.issubdtype(gram.dtype, np.number) or np.iscomplexobj(gram):
    raise ValueError(f"gram_NxN must be real numbers; got dtype {gram.dtype}.")
  if symmetry_tolerance is None:
    symmetry_tolerance = symmetry_tolerance_for(gram.dtype)
  gram = np.ascontiguousarray(gram, dtype=np.float64)
  block, asymmetry, scale = 1024, 0.0, 0.0
  for start in range(0, n, block):
    rows = gram[start : start + block]
    if not np.isfinite(rows).all():
      raise ValueError("gram_NxN contains NaN or inf.")
    asymmetry = max(
      asymmetry, float(np.max(np.abs(rows - gram[:, start : start + block].T)))
    )
    scale = max(scale, float(np.max(np.abs(rows))))
  if asymmetry > symmetry_tolerance * scale:
    raise ValueError(
      f"gram_NxN is not symmetric: max |K - Kᵀ| = {asymmetry:.3g} > "
      f"{symmetry_tolerance:g} · max |K| = {symmetry_tolerance * scale:.3g}. "
      "Symmetrise it, e.g. (K + K.T) / 2, if the asymmetry is round-off."
    )
  if np.trace(gram) <= 0:
    raise ValueError(
      f"gram_NxN must have a positive trace (a PSD kernel); got "
      f"tr K = {np.trace(gram):.3g}."
    )
  return gram


def _relative_change(value: float, reference: float) -> float:
  if value == reference:
    return 0.0
  if not (math.isfinite(value) and math.isfinite(reference)) or reference == 0:
    return math.inf
  return abs(value - reference) / abs(reference)


def _ridge_sensitivity(path_asc: list, chosen: int) -> float:
  neighbours = [i for i in (chosen - 1, chosen + 1) if 0 <= i < len(path_asc)]
  changes = [
    _relative_change(path_asc[i], path_asc[chosen]) for i in neighbours
  ]
  return max(changes) if changes else math.nan


def supervision_complexity(
  targets_NxC,
  gram_NxN,
  *,
  ridge: float = 1e-6,
  method: str = "cholesky",
  ridge_path=DEFAULT_RIDGE_PATH,
  eig_floor: float | None = None,
  ridge_tolerance: float = RIDGE_SENSITIVITY_TOLERANCE,
  outside_share_tolerance: float = OUTSIDE_RANGE_TOLERANCE,
  symmetry_tolerance: float | None = None,
) -> ComplexityResult:
  """Supervision complexity `SC = tr(Yᵀ (K + λI)⁻¹ Y)` and its adjusted form.

  Harutyunyan et al., ICLR 2023 (arXiv 2301.12245):

    SC   = Σ_c Y_cᵀ (K + λI)⁻¹ Y_c,            λ = ridge · tr(K) / n,
    ASC  = (1/n) · sqrt(SC · tr K),             invariant to K → cK,
    ASC_root = (1/n) · Σ_c sqrt(SC_c · tr K).

  ASC = 1 for one-hot labels and `K = cI` (λ → 0). The same quantities are
  computed for every ridge of `ridge_path`; if ASC moves by more than
  `ridge_tolerance` (relative) between `ridge` and its path neighbours, or a
  share above `outside_share_tolerance` of ‖Y‖_F² lies outside the numerical
  range of K, `ridge_dominated` is True: the number is set by the ridge, not by
  K, and must not be reported as a measurement. Only the lower triangle of K is
  used once the symmetry check has passed.

  Args:
    targets_NxC: targets Y, shape (N, C): one-hot labels, random labels, teacher
      probabilities (see `kd_ntk.complexity.targets`).
    gram_NxN: PSD Gram matrix K, shape (N, N), e.g. the student's empirical NTK.
    ridge: relative ridge; the absolute ridge is `ridge · tr(K)/N`. 0 is
      allowed.
    method: "cholesky" (fast; default, faster at every n measured) or "eigh"
      (one eigendecomposition for all ridges; exact spectrum).
    ridge_path: relative ridges at which SC/ASC are also reported; `()` for
      none.
    eig_floor: absolute floor for eigenvalues on the eigh route; None uses the
      rank tolerance `N · eps · max_eig`.
    ridge_tolerance: relative ASC change along the path that flags the value.
    outside_share_tolerance: outside-range share that flags the value.
    symmetry_tolerance: allowed `max |K − Kᵀ| / max |K|`; None derives it from
      the dtype K arrives in, `256 · eps(dtype)` (3.1e-5 for float32, 5.7e-14
      for float64: `kd_ntk.symmetry.symmetry_tolerance_for`). kd_ntk's own
      kernels are exactly symmetric; a float32 kernel cast to float64 before
      it is passed here should pass its float32 tolerance explicitly.

  Returns:
    A `ComplexityResult`.

  Raises:
    ValueError: bad shapes, N < 2, NaN/inf, asymmetric or zero-trace K, negative
      ridges, unknown method. All checks run before any factorisation.
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
  targets = _validate_targets(targets_NxC)
  n, num_classes = targets.shape
  ridge_path = tuple(ridge_path or ())
  _validate_ridges(ridge, ridge_path, eig_floor)
  gram = _validate_gram(gram_NxN, n, symmetry_tolerance)

  trace_k = float(np.trace(gram))
  relatives = sorted(set(float(r) for r in ridge_path) | {float(ridge)})
  absolutes = [r * trace_k / n for r in relatives]
  # gram.T is an F-ordered view LAPACK reads without a copy; both routes read
  # its lower half.
  gram_fortran = gram.T

  method_used, solution = method, None
  if method == "cholesky":
    solution = solvers.solve_with_cholesky(gram_fortran, targets, absolutes)
    method_used = "cholesky" if solution is not None else "eigh"
  if solution is None:
    solution = solvers.solve_with_eigh(
      gram_fortran, targets, absolutes, eig_floor
    )

  sc_per_class_by_ridge, spectrum = solution
  path = []
  for relative, sc_per_class in zip(relatives, sc_per_class_by_ridge):
    sc = float(np.sum(sc_per_class))
    path.append((relative, sc, math.sqrt(sc * trace_k) / n))
  chosen = relatives.index(float(ridge))
  sc_per_class = np.asarray(sc_per_class_by_ridge[chosen], dtype=np.float64)
  sensitivity = _ridge_sensitivity([asc for _, _, asc in path], chosen)
  dominated = bool(
    (sensitivity > ridge_tolerance)
    or (spectrum.outside_range_share > outside_share_tolerance)
  )
  return ComplexityResult(
    sc=path[chosen][1],
    sc_per_class=sc_per_class,
    asc=path[chosen][2],
    asc_per_class_root=float(np.sum(np.sqrt(sc_per_class * trace_k))) / n,
    n=n,
    num_classes=num_classes,
    trace_k=trace_k,
    ridge_relative=float(ridge),
    ridge_used=absolutes[chosen],
    ridge_path=tuple(path),
    ridge_sensitivity=sensitivity,
    max_eigenvalue=spectrum.max_eigenvalue,
    min_eigenvalue=spectrum.min_eigenvalue,
    rank_tolerance=spectrum.rank_tolerance,
    condition_number=spectrum.condition_number,
    outside_range_share=spectrum.outside_range_share,
    ridge_dominated=dominated,
    method_requested=method,
    method_used=method_used,
    spectrum_method=spectrum.method,
  )
