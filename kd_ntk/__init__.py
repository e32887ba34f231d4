"""kd_ntk: knowledge distillation through the student's neural tangent kernel.

Implements "Supervision Complexity and its Role in Knowledge Distillation"
(Harutyunyan et al., ICLR 2023). Importing the package loads neither
TensorFlow nor neural-tangents; the modules that need them import them lazily.
It sets one XLA flag for a faster CPU step on JAX 0.5.x (`kd_ntk.xla_cpu`;
KD_NTK_XLA_DEFAULTS=0 turns it off) and asks glibc's malloc to keep and reuse
freed memory instead of mapping fresh pages for XLA's large buffers
(`kd_ntk.host_malloc`; KD_NTK_MALLOC_DEFAULTS=0 turns it off).
"""

from kd_ntk import host_malloc, xla_cpu

xla_cpu.apply_defaults()
host_malloc.apply_defaults()

__version__ = "0.1.0"
