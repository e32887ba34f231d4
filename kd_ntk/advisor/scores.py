"""The scores of one candidate's targets under the student's NTK at init.

Notation: Y = softmax(z_T/τ) (n×C) the candidate's targets on the kernel subset
X with labels y; K, K_V, λ and α = (K + λI)⁻¹ Y from `kd_ntk.advisor.kernel`;
V the validation split with labels y_V. Harutyunyan et al., ICLR 2023
(arXiv 2301.12245) for SC, ASC and the bound.

  complexity   SC = tr(Yᵀ α),  ASC = (1/n) sqrt(SC · tr K),
               ASC_nm = ASC · sqrt(n) / ‖Y‖_F   (Y rescaled to the Frobenius
               norm sqrt(n) of one-hot labels; ASC is homogeneous of degree 1
               in Y, as in `kd_ntk.science.claims.with_norm_matched`);
  bound        `kd_ntk.complexity.bound_terms` with the linearised student
               ŷ_X = K α as the student:
               (1/n) Σ_i 1[ρ(ŷ_X,i, y_i) ≤ γ] + (2/(γn)) sqrt(SC · tr K) c_C
               + 3 sqrt(ln(2/δ)/(2n)),  ρ(v, y) = v_y − max_{y'≠y} v_{y'};
  linearised   ŷ_V = K_V α, the kernel ridge regression of Y with the student's
  student      NTK (the NTK-regime student trained to the ridge's fit from a
               zero function): accuracy (1/m) Σ_j 1[argmax ŷ_V,j = y_V,j] and
               margin loss (1/m) Σ_j 1[ρ(ŷ_V,j, y_V,j) ≤ γ];
  baselines    the teacher checkpoint's validation accuracy
               (1/m) Σ_j 1[argmax z_T(v_j) = y_V,j], and argmax Y's accuracy on
               X.

γ is in the units of Y (probabilities), so it is the same for every τ.
"""

import math

import numpy as np

from kd_ntk import complexity, metrics
from kd_ntk.advisor.kernel import StudentKernel

DEFAULT_GAMMA = 0.1
DEFAULT_DELTA = 0.05


def complexity_scores(
  kernel: StudentKernel, targets_NxC, alpha_NxC
) -> dict[str, float]:
  """SC, ASC, ASC_nm and ‖Y‖_F (module docstring)."""
  targets = np.asarray(targets_NxC, np.float64)
  sc = kernel.supervision_complexity(targets, alpha_NxC)
  asc = kernel.asc(sc)
  norm = float(np.linalg.norm(targets))
  return {
    "sc": sc,
    "asc": asc,
    "asc_norm_matched": asc * math.sqrt(kernel.n) / norm
    if norm > 0
    else math.nan,
    "target_norm": norm,
  }


def bound_scores(
  kernel: StudentKernel,
  train_predictions_NxC,
  labels_N,
  teacher_logits_NxC,
  *,
  sc: float,
  gamma: float = DEFAULT_GAMMA,
  delta: float = DEFAULT_DELTA,
  class_constant="two_c",
) -> dict[str, float]:
  """The bound's computable terms with ŷ_X = K α (`train_predictions_NxC`,
  from `kernel.predict_train`) as the student's logits."""
  terms = complexity.bound_terms(
    train_predictions_NxC,
    np.asarray(labels_N),
    teacher_logits_NxC,
    sc=sc,
    trace_k=kernel.trace,
    n=kernel.n,
    gamma=gamma,
    delta=delta,
    class_constant=class_constant,
  )
  return {
    "bound_margin_loss": terms.margin_loss,
    "bound_complexity": terms.complexity_term,
    "bound_confidence": terms.confidence_term,
    "bound_total": terms.total,
  }


def linearised_student_scores(
  validation_predictions_MxC,
  validation_labels_M,
  *,
  gamma: float = DEFAULT_GAMMA,
) -> dict[str, float]:
  """Validation accuracy and margin loss at γ of ŷ_V = K_V α (from
  `kernel.predict_validation`)."""
  labels = np.asarray(validation_labels_M)
  if len(labels) == 0:
    return {"krr_accuracy": math.nan, "krr_margin_loss": math.nan}
  predictions = np.asarray(validation_predictions_MxC, np.float64)
  return {
    "krr_accuracy": metrics.accuracy(predictions, labels),
    "krr_margin_loss": float(
      np.mean(metrics.margins(predictions, labels) <= gamma)
    ),
  }


def baseline_scores(
  teacher_validation_logits_MxC, validation_labels_M, targets_NxC, labels_N
) -> dict[str, float]:
  """Teacher validation accuracy and argmax-target accuracy on X."""
  labels_v = np.asarray(validation_labels_M)
  teacher_accuracy = (
    metrics.accuracy(teacher_validation_logits_MxC, labels_v)
    if len(labels_v)
    else math.nan
  )
  return {
    "teacher_accuracy": teacher_accuracy,
    "target_accuracy": metrics.accuracy(targets_NxC, np.asarray(labels_N)),
  }
