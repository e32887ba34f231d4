"""XLA settings for the CPU that kd_ntk applies when it is imported.

On JAX 0.5.x, XLA's CPU backend runs compiled programs through its "thunk
runtime" by default; its previous runtime (`--xla_cpu_use_thunk_runtime=false`)
compiles each program into one native function, and ran the LeNet-5 train step
at batch 128 about 1.6× faster on this project's 2-core machine (timed
alternately with experiments/benchmarks/bench_train.py; see the README). It
changes no result beyond float reassociation: the golden-loss test
(tests/train/test_train.py) and the whole test suite pass with it. Newer JAX
releases dropped that runtime (the flag is ignored with a warning), so it is
applied to JAX 0.5.x only.

The flag is appended to $XLA_FLAGS, which XLA reads when JAX starts its CPU
backend, so it takes effect when kd_ntk is imported before the first JAX
computation (every launcher and test does). It is left out when $XLA_FLAGS
already sets it (either way), or when KD_NTK_XLA_DEFAULTS=0.

Known failure: with the legacy runtime, XLA's oneDNN code aborts ("could not
append a binary post-op") on neural-tangents' Jacobians of ResNet-20 at 32 or
more examples per call (JAX 0.5.3, this CPU); XLA's default runtime runs them.
kd_ntk's own NTK paths run on it. Set KD_NTK_XLA_DEFAULTS=0 before importing
kd_ntk if another library's computation aborts so.
"""

import importlib.metadata
import os

LEGACY_RUNTIME_FLAG = "--xla_cpu_use_thunk_runtime=false"
OPT_OUT_ENV = "KD_NTK_XLA_DEFAULTS"


def flags_for(jaxlib_version: str) -> tuple:
  """The XLA CPU flags kd_ntk applies on this jaxlib version."""
  return (LEGACY_RUNTIME_FLAG,) if jaxlib_version.startswith("0.5.") else ()


def apply_defaults(environ=os.environ) -> None:
  """Appends `flags_for(installed jaxlib)` to environ["XLA_FLAGS"] (above)."""
  if environ.get(OPT_OUT_ENV) == "0":
    return
  try:
    version = importlib.metadata.version("jaxlib")
  except importlib.metadata.PackageNotFoundError:
    return
  current = environ.get("XLA_FLAGS", "")
  for flag in flags_for(version):
    if flag.split("=")[0] not in current:
      current = f"{current} {flag}".strip()
  if current:
    environ["XLA_FLAGS"] = current


def legacy_runtime_in_force(environ=os.environ) -> bool:
  """Whether XLA_FLAGS selects the legacy CPU runtime (by kd_ntk or the user);
  levers measured only there (`kd_ntk.models.pooling`) ask this."""
  return LEGACY_RUNTIME_FLAG in environ.get("XLA_FLAGS", "").split()


def without_defaults(environ=os.environ) -> dict:
  """A copy of `environ` for a subprocess on XLA's own CPU defaults: the
  opt-out set and kd_ntk's flags taken out of XLA_FLAGS."""
  ours = {flag.split("=")[0] for flag in flags_for("0.5.")}
  flags = environ.get("XLA_FLAGS", "").split()
  kept = " ".join(f for f in flags if f.split("=")[0] not in ours)
  return dict(environ, **{OPT_OUT_ENV: "0", "XLA_FLAGS": kept})
