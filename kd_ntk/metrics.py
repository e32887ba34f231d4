"""Pure numpy metrics of logits: accuracy, fidelity, margins, KL to a teacher,
ECE.

Every function takes logits (not probabilities) as `(N, C)` arrays and returns
a float (mean over examples) or an `(N,)` array; computations run in float64 so
that metrics of nearly one-hot predictions stay exact. No JAX: these run on the
host on arrays gathered from `predict_logits`, and reports may import them.
"""

import numpy as np


def _as_f64(logits_NxC) -> np.ndarray:
  logits = np.asarray(logits_NxC, np.float64)
  if logits.ndim != 2:
    raise ValueError(f"Expected logits of shape (N, C); got {logits.shape}.")
  return logits


def log_softmax(logits_NxC, temperature: float = 1.0) -> np.ndarray:
  """log softmax(z/τ) along the class axis, stable for large logits."""
  z = _as_f64(logits_NxC) / temperature
  z = z - z.max(axis=-1, keepdims=True)
  return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits_NxC, temperature: float = 1.0) -> np.ndarray:
  """softmax(z/τ) along the class axis."""
  return np.exp(log_softmax(logits_NxC, temperature))


def accuracy(logits_NxC, labels_N) -> float:
  """Top-1 accuracy: mean of 1[argmax_c z_c = y]."""
  return float(
    np.mean(np.argmax(_as_f64(logits_NxC), -1) == np.asarray(labels_N))
  )


def fidelity(student_logits_NxC, teacher_logits_NxC) -> float:
  """Top-1 agreement between student and teacher: mean of
  1[argmax z_S = argmax z_T]."""
  return accuracy(
    student_logits_NxC, np.argmax(_as_f64(teacher_logits_NxC), -1)
  )


def cross_entropy(logits_NxC, labels_N) -> float:
  """Mean softmax cross-entropy −log softmax(z)_y."""
  logp = log_softmax(logits_NxC)
  return float(-np.mean(logp[np.arange(len(logp)), np.asarray(labels_N)]))


def margins(logits_NxC, labels_N) -> np.ndarray:
  """Multiclass margins ρ_i = f(x_i)_{y_i} − max_{y' ≠ y_i} f(x_i)_{y'}, shape
  (N,).

  Positive exactly when example i is classified as `y_i` (ties give 0). The
  margin term of the paper's bound counts examples with ρ ≤ γ; with `labels_N`
  the teacher's predicted labels, it is the student's margin w.r.t. the teacher.
  """
  logits = _as_f64(logits_NxC)
  labels = np.asarray(labels_N)
  rows = np.arange(len(logits))
  own = logits[rows, labels]
  others = logits.copy()
  others[rows, labels] = -np.inf
  return own - others.max(axis=-1)


def mean_margin(logits_NxC, labels_N) -> float:
  """Mean of `margins`."""
  return float(np.mean(margins(logits_NxC, labels_N)))


def kl_divergence(
  teacher_logits_NxC, student_logits_NxC, temperature: float = 1.0
) -> float:
  """Mean KL(p_T ‖ p_S) with p = softmax(z/τ):
  (1/N) Σ_i Σ_c p_T,ic (log p_T,ic − log p_S,ic).

  Terms with p_T,ic = 0 contribute 0 (the 0·log 0 = 0 convention).
  """
  log_pt = log_softmax(teacher_logits_NxC, temperature)
  log_ps = log_softmax(student_logits_NxC, temperature)
  pt = np.exp(log_pt)
  terms = np.where(pt > 0, pt * (log_pt - log_ps), 0.0)
  return float(np.mean(terms.sum(axis=-1)))


def expected_calibration_error(
  logits_NxC, labels_N, num_bins: int = 15
) -> float:
  """Expected calibration error with `num_bins` equal-width confidence bins.

  ECE = Σ_b (|B_b| / N) · |acc(B_b) − conf(B_b)|, where the confidence of an
  example is its top softmax probability, bins are (k/M, (k+1)/M] (the first
  also takes confidence 0), acc is the top-1 accuracy and conf the mean
  confidence of the bin (Guo et al., 2017; 15 bins is the standard setting).
  """
  probs = softmax(logits_NxC)
  labels = np.asarray(labels_N)
  confidence = probs.max(axis=-1)
  correct = (probs.argmax(axis=-1) == labels).astype(np.float64)
  # ceil(conf·M) − 1 maps (k/M, (k+1)/M] to bin k; clip puts conf = 0 in bin 0.
  bins = np.clip(
    np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1
  )
  acc_sum = np.bincount(bins, weights=correct, minlength=num_bins)
  conf_sum = np.bincount(bins, weights=confidence, minlength=num_bins)
  # Σ_b (n_b/N)|acc_b − conf_b| = (1/N) Σ_b |Σ correct − Σ conf| over the bin.
  return float(np.abs(acc_sum - conf_sum).sum() / max(len(labels), 1))
