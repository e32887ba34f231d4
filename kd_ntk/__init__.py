"""kd_ntk: knowledge distillation through the student's neural tangent kernel.

Implements "Supervision Complexity and its Role in Knowledge Distillation"
(Harutyunyan et al., ICLR 2023). Importing the package loads neither
TensorFlow nor neural-tangents; the modules that need them import them lazily.
It sets one XLA flag for a faster CPU step on JAX 0.5.x (`kd_ntk.xla_cpu`;
KD_NTK_XLA_DEFAULTS=0 turns it off).
"""

from kd_ntk import xla_cpu

xla_cpu.apply_defaults()

__version__ = "0.1.0"
