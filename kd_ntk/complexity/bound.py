"""Terms of the multiclass margin bound behind supervision complexity.

Harutyunyan et al., ICLR 2023 (arXiv 2301.12245), in the standard form stated
in PAPER.md: with probability ≥ 1 − δ,

  P(error) ≤ (1/n) Σ_i 1[ρ_f(x_i, y_i) ≤ γ]                       (margin loss)
           + (2/(γ n)) · sqrt(tr(Yᵀ K⁻¹ Y) · tr K) · c_C            (complexity)
           + 3 · sqrt(ln(2/δ) / (2n)),                              (confidence)

with `ρ_f(x, y) = f(x)_y − max_{y'≠y} f(x)_{y'}`. Since
`1[ρ_f(x, y) ≤ γ] ≤ 1[ŷ_T(x) ≠ y] + 1[ρ_f(x, ŷ_T(x)) ≤ γ]` (equality of the
two sides' first terms whenever the teacher is right), the margin loss is at
most the teacher's training error plus the student's margin loss with respect
to the teacher's predicted labels `ŷ_T = argmax z_T`; both forms are reported.

The class constant `c_C` is a convention, not taken from the paper (whose exact
constants are unknown). `CLASS_CONSTANTS` offers:

* "two_c" (default): `c_C = 2C`. Then `(2/(γn))·2C = 4C/(γn)`, the `4C/γ · R̂_n`
  of the Koltchinskii–Panchenko-style multiclass margin bound as stated in
  Mohri, Rostamizadeh & Talwalkar, Foundations of ML (2nd ed., 2018), Thm 9.2
  (our reading), with the kernel-class Rademacher complexity
  `R̂_n ≤ sqrt(SC·tr K)/n`.
* "unit": `c_C = 1`, the constant-free form: the complexity term is `(2/γ)·ASC`.

A float may be passed instead of a name.
"""

import dataclasses
import math

import numpy as np

from kd_ntk import metrics


def _two_times_classes(num_classes: int) -> float:
  return 2.0 * num_classes


def _unit(num_classes: int) -> float:
  del num_classes
  return 1.0


CLASS_CONSTANTS = {"two_c": _two_times_classes, "unit": _unit}
DEFAULT_CLASS_CONSTANT = "two_c"


@dataclasses.dataclass(frozen=True)
class BoundTerms:
  """Every term of the margin bound; see the module docstring for the equation.

  Attributes:
    margin_loss: `(1/N) Σ_i 1[ρ(x_i, y_i) ≤ γ]` w.r.t. the true labels.
    teacher_error: `(1/N) Σ_i 1[argmax z_T(x_i) ≠ y_i]` (nan without a teacher).
    margin_loss_wrt_teacher: `(1/N) Σ_i 1[ρ(x_i, ŷ_T(x_i)) ≤ γ]` (nan without
      one).
    complexity_term: `(2/(γ n)) · sqrt(sc · tr K) · c_C`.
    confidence_term: `3 · sqrt(ln(2/δ)/(2n))`.
    total: margin_loss + complexity_term + confidence_term.
    total_via_teacher: teacher_error + margin_loss_wrt_teacher + complexity_term
      + confidence_term (≥ total).
    class_constant: the value of `c_C`; class_constant_name: its convention.
    n, num_classes, gamma, delta, sc, trace_k: the inputs.
  """

  margin_loss: float
  teacher_error: float
  margin_loss_wrt_teacher: float
  complexity_term: float
  confidence_term: float
  total: float
  total_via_teacher: float
  class_constant: float
  class_constant_name: str
  n: int
  num_classes: int
  gamma: float
  delta: float
  sc: float
  trace_k: float

  def as_dict(self) -> dict:
    """Plain dict of the fields, for one CSV/JSONL row."""
    return dataclasses.asdict(self)


def _validate_logits(logits_NxC, name: str) -> np.ndarray:
  logits = np.asarray(logits_NxC)
  if logits.ndim != 2 or logits.shape[1] < 2:
    raise ValueError(
      f"{name} must be 2-D (N, C) with C ≥ 2 classes; got shape {logits.shape}."
    )
  if not np.issubdtype(logits.dtype, np.number) or np.iscomplexobj(logits):
    raise ValueError(f"{name} must be real numbers; got dtype {logits.dtype}.")
  logits = logits.astype(np.float64)
  if not np.isfinite(logits).all():
    raise ValueError(f"{name} contains NaN or inf.")
  return logits


def _validate_labels(labels, num_examples: int, num_classes: int) -> np.ndarray:
  labels_N = np.asarray(labels)
  if labels_N.shape != (num_examples,):
    raise ValueError(
      f"labels must have shape ({num_examples},) to match the logits; "
      f"got {labels_N.shape}."
    )
  if not np.issubdtype(labels_N.dtype, np.integer):
    raise ValueError(f"labels must be integers; got dtype {labels_N.dtype}.")
  if labels_N.size and (labels_N.min() < 0 or labels_N.max() >= num_classes):
    raise ValueError(
      f"labels must lie in [0, {num_classes}); got range "
      f"[{labels_N.min()}, {labels_N.max()}]."
    )
  return labels_N


def margins(logits_NxC, labels) -> np.ndarray:
  """Multiclass margins `ρ_i = f(x_i)_{y_i} − max_{y' ≠ y_i} f(x_i)_{y'}`.

  Args:
    logits_NxC: logits f(x_i), shape (N, C), C ≥ 2.
    labels: integer labels y_i, shape (N,).

  Returns:
    float64 array of shape (N,); positive exactly when x_i is classified as y_i.
  """
  logits = _validate_logits(logits_NxC, "logits_NxC")
  labels_N = _validate_labels(labels, logits.shape[0], logits.shape[1])
  return metrics.margins(logits, labels_N)


def _class_constant(class_constant: str | float, num_classes: int):
  if isinstance(class_constant, str):
    if class_constant not in CLASS_CONSTANTS:
      raise ValueError(
        f"class_constant must be one of {sorted(CLASS_CONSTANTS)} or a "
        f"number; got {class_constant!r}."
      )
    return CLASS_CONSTANTS[class_constant](num_classes), class_constant
  value = float(class_constant)
  if not (math.isfinite(value) and value > 0):
    raise ValueError(
      f"class_constant must be a finite number > 0; got {class_constant!r}."
    )
  return value, "custom"


def _check_positive(
  name: str, value, allow_zero: bool = False, allow_inf: bool = False
):
  ok_sign = value >= 0 if allow_zero else value > 0
  if math.isnan(value) or not ok_sign or (math.isinf(value) and not allow_inf):
    raise ValueError(
      f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
      f"{'number' if allow_inf else 'finite number'}; got {value!r}."
    )


def bound_terms(
  student_logits_NxC,
  labels,
  teacher_logits_NxC: np.ndarray | None,
  *,
  sc: float,
  trace_k: float,
  n: int,
  gamma: float,
  delta: float = 0.05,
  class_constant: str | float = DEFAULT_CLASS_CONSTANT,
) -> BoundTerms:
  """Computes every term of the margin bound (module docstring) for a student.

  Args:
    student_logits_NxC: student logits on the training examples, shape (N, C).
    labels: true integer labels, shape (N,).
    teacher_logits_NxC: teacher logits on the same examples, shape (N, C), or
      None (then the teacher split is nan).
    sc: supervision complexity `tr(Yᵀ K⁻¹ Y)` (e.g. `ComplexityResult.sc`); may
      be inf.
    trace_k: `tr K` of the same Gram matrix.
    n: sample size of the bound (rows of K); the empirical terms average over
      the N given logits, so pass N = n for the bound to hold as stated.
    gamma: margin γ > 0.
    delta: confidence δ ∈ (0, 1).
    class_constant: "two_c" (default, `c_C = 2C`), "unit" (`c_C = 1`) or a
      number.

  Returns:
    A `BoundTerms`.
  """
  student = _validate_logits(student_logits_NxC, "student_logits_NxC")
  num_examples, num_classes = student.shape
  labels_N = _validate_labels(labels, num_examples, num_classes)
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise ValueError(f"n must be an integer ≥ 1; got {n!r}.")
  sc, trace_k, gamma, delta = (
    float(sc),
    float(trace_k),
    float(gamma),
    float(delta),
  )
  _check_positive("sc", sc, allow_zero=True, allow_inf=True)
  _check_positive("trace_k", trace_k)
  _check_positive("gamma", gamma)
  if not 0 < delta < 1:
    raise ValueError(f"delta must lie in (0, 1); got {delta!r}.")
  constant, constant_name = _class_constant(class_constant, num_classes)

  margin_loss = float(np.mean(metrics.margins(student, labels_N) <= gamma))
  teacher_error = margin_wrt_teacher = math.nan
  if teacher_logits_NxC is not None:
    teacher = _validate_logits(teacher_logits_NxC, "teacher_logits_NxC")
    if teacher.shape != student.shape:
      raise ValueError(
        f"teacher_logits_NxC has shape {teacher.shape}; the student's "
        f"is {student.shape}."
      )
    teacher_labels_N = np.argmax(teacher, axis=1)
    teacher_error = float(np.mean(teacher_labels_N != labels_N))
    margin_wrt_teacher = float(
      np.mean(metrics.margins(student, teacher_labels_N) <= gamma)
    )

  complexity = 2.0 / (gamma * n) * math.sqrt(sc * trace_k) * constant
  confidence = 3.0 * math.sqrt(math.log(2.0 / delta) / (2.0 * n))
  return BoundTerms(
    margin_loss=margin_loss,
    teacher_error=teacher_error,
    margin_loss_wrt_teacher=margin_wrt_teacher,
    complexity_term=complexity,
    confidence_term=confidence,
    total=margin_loss + complexity + confidence,
    total_via_teacher=teacher_error
    + margin_wrt_teacher
    + complexity
    + confidence,
    class_constant=constant,
    class_constant_name=constant_name,
    n=int(n),
    num_classes=num_classes,
    gamma=gamma,
    delta=delta,
    sc=sc,
    trace_k=trace_k,
  )
