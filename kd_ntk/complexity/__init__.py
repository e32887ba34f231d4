"""Supervision complexity of targets under the student's NTK, and margin-bound
terms.

Pure numpy/scipy in float64; imports neither JAX, TensorFlow nor
neural-tangents. Harutyunyan et al., "Supervision Complexity and its Role in
Knowledge Distillation", ICLR 2023 (arXiv 2301.12245).
"""

from kd_ntk.complexity.bound import BoundTerms
from kd_ntk.complexity.bound import CLASS_CONSTANTS
from kd_ntk.complexity.bound import DEFAULT_CLASS_CONSTANT
from kd_ntk.complexity.bound import bound_terms
from kd_ntk.complexity.bound import margins
from kd_ntk.complexity.supervision import DEFAULT_RIDGE_PATH
from kd_ntk.complexity.supervision import ComplexityResult
from kd_ntk.complexity.supervision import supervision_complexity
from kd_ntk.complexity.targets import one_hot
from kd_ntk.complexity.targets import random_labels
from kd_ntk.complexity.targets import teacher_probabilities

__all__ = [
  "BoundTerms",
  "CLASS_CONSTANTS",
  "ComplexityResult",
  "DEFAULT_CLASS_CONSTANT",
  "DEFAULT_RIDGE_PATH",
  "bound_terms",
  "margins",
  "one_hot",
  "random_labels",
  "supervision_complexity",
  "teacher_probabilities",
]
