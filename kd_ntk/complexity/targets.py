"""Target matrices `Y ∈ R^{N×C}` whose supervision complexity is measured.

Harutyunyan et al., ICLR 2023 (arXiv 2301.12245) compare one-hot labels,
random labels and teacher probabilities `softmax(z_T/τ)`. Every builder returns
a C-contiguous float64 array of shape (N, C).
"""

import math

import numpy as np


def _validate_num_classes(num_classes) -> int:
  if isinstance(num_classes, bool) or not isinstance(
    num_classes, (int, np.integer)
  ):
    raise ValueError(f"num_classes must be an integer; got {num_classes!r}.")
  if num_classes < 1:
    raise ValueError(f"num_classes must be ≥ 1; got {num_classes}.")
  return int(num_classes)


def one_hot(labels, num_classes: int) -> np.ndarray:
  """One-hot targets: `Y_ic = 1[y_i = c]`.

  Args:
    labels: integer class labels, shape (N,), each in `[0, num_classes)`.
    num_classes: C.

  Returns:
    float64 array of shape (N, C).

  Raises:
    ValueError: labels not 1-D integers, or out of range.
  """
  num_classes = _validate_num_classes(num_classes)
  labels_N = np.asarray(labels)
  if labels_N.ndim != 1:
    raise ValueError(f"labels must be 1-D (N,); got shape {labels_N.shape}.")
  if labels_N.size and not np.issubdtype(labels_N.dtype, np.integer):
    raise ValueError(f"labels must be integers; got dtype {labels_N.dtype}.")
  if labels_N.size and (labels_N.min() < 0 or labels_N.max() >= num_classes):
    raise ValueError(
      f"labels must lie in [0, {num_classes}); got range "
      f"[{labels_N.min()}, {labels_N.max()}]."
    )
  targets_NxC = np.zeros((labels_N.size, num_classes), dtype=np.float64)
  targets_NxC[np.arange(labels_N.size), labels_N] = 1.0
  return targets_NxC


def random_labels(n: int, num_classes: int, seed: int) -> np.ndarray:
  """One-hot targets of classes drawn uniformly at random, reproducibly.

  `y_i ~ Uniform{0, …, C−1}` i.i.d. from `np.random.default_rng(seed)`.

  Args:
    n: number of examples N ≥ 1.
    num_classes: C.
    seed: seed of the generator; the same seed gives the same targets.

  Returns:
    float64 array of shape (N, C).
  """
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise ValueError(f"n must be an integer ≥ 1; got {n!r}.")
  num_classes = _validate_num_classes(num_classes)
  labels_N = np.random.default_rng(seed).integers(0, num_classes, size=int(n))
  return one_hot(labels_N, num_classes)


def teacher_probabilities(
  logits_NxC, temperature: float = 1.0, centered: bool = False
) -> np.ndarray:
  """Teacher targets `softmax(z_T/τ)`, optionally centred:
  `softmax(z_T/τ) − 1/C`.

  Computed in float64 with the max subtracted, so large logits do not overflow.
  Higher τ moves the targets towards the uniform distribution (τ → ∞ gives 1/C).

  Args:
    logits_NxC: teacher logits z_T, shape (N, C).
    temperature: τ > 0.
    centered: subtract 1/C from every entry (rows then sum to 0).

  Returns:
    float64 array of shape (N, C).

  Raises:
    ValueError: logits not 2-D, empty, non-finite; τ not a finite positive
      number.
  """
  logits = np.asarray(logits_NxC)
  if logits.ndim != 2 or logits.shape[1] < 1:
    raise ValueError(
      f"logits_NxC must be 2-D (N, C) with C ≥ 1; got shape {logits.shape}."
    )
  if not np.issubdtype(logits.dtype, np.number) or np.iscomplexobj(logits):
    raise ValueError(
      f"logits_NxC must be real numbers; got dtype {logits.dtype}."
    )
  logits = logits.astype(np.float64)
  if not np.isfinite(logits).all():
    raise ValueError("logits_NxC contains NaN or inf.")
  if not (
    isinstance(temperature, (int, float, np.integer, np.floating))
    and math.isfinite(temperature)
    and temperature > 0
  ):
    raise ValueError(
      f"temperature must be a finite number > 0; got {temperature!r}."
    )
  scaled = logits / float(temperature)
  scaled -= scaled.max(axis=1, keepdims=True)
  probabilities = np.exp(scaled)
  probabilities /= probabilities.sum(axis=1, keepdims=True)
  if centered:
    probabilities -= 1.0 / logits.shape[1]
  return np.ascontiguousarray(probabilities)
