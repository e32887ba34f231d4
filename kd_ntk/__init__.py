"""kd_ntk: knowledge distillation through the student's neural tangent kernel.

Implements "Supervision Complexity and its Role in Knowledge Distillation"
(Harutyunyan et al., ICLR 2023). Importing the package loads neither
TensorFlow nor neural-tangents; the modules that need them import them lazily.
"""

__version__ = "0.1.0"
