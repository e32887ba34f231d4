"""kd_ntk: knowledge distillation through the student's neural tangent kernel.

Implements "Supervision Complexity and its Role in Knowledge Distillation"
(Harutyunyan et al., ICLR 2023). Importing the package loads neither
TensorFlow nor neural-tangents; the modules that need them import them lazily.
It sets one XLA flag for a faster CPU step on JAX 0.5.x (`kd_ntk.xla_cpu`;
KD_NTK_XLA_DEFAULTS=0 turns it off) and asks glibc's malloc to keep and reuse
freed memory instead of mapping fresh pages for XLA's large buffers
(`kd_ntk.host_malloc`; KD_NTK_MALLOC_DEFAULTS=0 turns it off).

Subpackages load on first use, so `import kd_ntk` stays light and
`kd_ntk.ntk.empirical_ntk`, `kd_ntk.complexity`, ... work after it alone:

    import kd_ntk
    teacher = kd_ntk.load_teacher("runs/teacher")
    scores = kd_ntk.score_teacher(
        model, variables, x, labels=y, targets=teacher
    )
"""

import importlib

from kd_ntk import host_malloc, xla_cpu

xla_cpu.apply_defaults()
host_malloc.apply_defaults()

__version__ = "0.1.0"

SUBMODULES = (
  "advisor",
  "cli",
  "complexity",
  "configs",
  "data",
  "distill",
  "distributed",
  "experiment",
  "grid",
  "metrics",
  "models",
  "ntk",
  "reports",
  "science",
  "scoring",
  "teachers",
  "train",
)
# Public names re-exported from a submodule, loaded on first use.
LAZY_NAMES = {
  "score_teacher": "kd_ntk.scoring",
  "Scores": "kd_ntk.scoring",
  "load_teacher": "kd_ntk.teachers",
  "Teacher": "kd_ntk.teachers",
  "FlaxAdapter": "kd_ntk.models",
  "empirical_ntk": "kd_ntk.ntk",
  "supervision_complexity": "kd_ntk.complexity",
}

__all__ = [*SUBMODULES, *LAZY_NAMES]


def __getattr__(name: str):
  if name in SUBMODULES:
    return importlib.import_module(f"kd_ntk.{name}")
  if name in LAZY_NAMES:
    return getattr(importlib.import_module(LAZY_NAMES[name]), name)
  raise AttributeError(f"module 'kd_ntk' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(__all__))
