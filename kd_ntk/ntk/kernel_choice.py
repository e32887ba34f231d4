"""Which kernel scores the targets: a kernel name mapped to a Gram matrix.

Every kernel is the "trace" Gram matrix of the student (sum over its C logits):

  * "empirical":    K_ij = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩ at the student's
                    parameters θ (kd_ntk's own engine, `empirical_ntk`).
  * "empirical_nt": the same K from neural-tangents' `empirical_ntk_fn` (its
                    `trace_axes=(-1,)` is the mean over logits: times C here).
  * "monte_carlo":  K̄ = (1/m) Σ_s K(θ_s), θ_s independent initialisations of
                    the student (own `monte_carlo_ntk`, every JAX).
  * "infinite":     C · Θ, the exact infinite-width NTK of the student's stax
                    twin (`kd_ntk.ntk.twins`), in standard or NTK
                    parameterisation.
  * "nngp":         C · Σ, the twin's NNGP kernel (the kernel of the last layer
                    alone at infinite width).

"monte_carlo", "infinite" and "nngp" depend only on the initialisation
distribution, not on a trained checkpoint. "empirical_nt", "infinite" and
"nngp" need neural-tangents (and TensorFlow); `check_kernels` says so in one
line before any work.
"""

import dataclasses
from typing import Any
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk import symmetry
from kd_ntk.ntk import twins
from kd_ntk.ntk.empirical import empirical_ntk
from kd_ntk.ntk.monte_carlo import monte_carlo_ntk
from kd_ntk.ntk.planning import METHODS

KERNELS = ("empirical", "empirical_nt", "monte_carlo", "infinite", "nngp")
NEEDS_NEURAL_TANGENTS = ("empirical_nt", "infinite", "nngp")
# Kernels independent of the checkpoint (computed at initialisation).
INIT_KERNELS = ("monte_carlo", "infinite", "nngp")
TWIN_KERNELS = ("infinite", "nngp")
PARAMETERIZATIONS = ("standard", "ntk")


def kernel_names(value) -> tuple[str, ...]:
  """The config's `kernel` (one name, or a tuple or list of names) as a tuple.

  The config argument turns `kernel=(a,b)` into the tuple ("a", "b")
  (`kd_ntk.configs.common.parse_arg`); a name is never taken apart here.
  Raises a one-line ValueError for an empty choice, a repeated or unknown name.
  """
  if isinstance(value, str):
    names = (value,)
  elif isinstance(value, (tuple, list)) and all(
    isinstance(v, str) for v in value
  ):
    names = tuple(value)
  else:
    raise ValueError(
      f"kernel must be a name or a tuple of names; got {value!r}."
    )
  if not names or not all(names):
    raise ValueError(f"kernel names no kernel; choose from {KERNELS}.")
  unknown = [k for k in names if k not in KERNELS]
  if unknown:
    raise ValueError(
      f"Unknown kernel(s) {unknown}; choose from {KERNELS} (several: "
      "kernel=(empirical,infinite) in the --config argument)."
    )
  if len(set(names)) != len(names):
    raise ValueError(f"kernel lists a name twice: {names}.")
  return names


def check_kernels(
  kernels: Sequence[str],
  model_name: str,
  model_kwargs: dict[str, Any] | None = None,
  parameterization: str = "standard",
) -> None:
  """One-line ValueError if a kernel cannot be computed for this student:
  a missing stax twin, or neural-tangents not importable (naming the
  package)."""
  if parameterization not in PARAMETERIZATIONS:
    raise ValueError(
      f"twin_parameterization must be one of {PARAMETERIZATIONS}; "
      f"got {parameterization!r}."
    )
  if any(k in TWIN_KERNELS for k in kernels):
    try:
      twins.check_twin(model_name, model_kwargs)
    except ValueError as err:
      raise ValueError(
        f"kernel {[k for k in kernels if k in TWIN_KERNELS]}: {err}"
      ) from None
  needs = [k for k in kernels if k in NEEDS_NEURAL_TANGENTS]
  if needs:
    from kd_ntk.ntk.nt_import import import_neural_tangents

    try:
      import_neural_tangents()
    except ImportError as err:
      raise ValueError(f"kernel {needs}: {err}") from None


def kernel_note(
  kernel: str, model_name: str, parameterization: str = "standard"
) -> str:
  """What the kernel is, where it approximates the student ("" for the student's
  own empirical NTK)."""
  if kernel in TWIN_KERNELS:
    note = f"stax twin, {parameterization} parameterisation"
    approximation = twins.twin_note(model_name)
    return note + (f"; approximate: {approximation}" if approximation else "")
  if kernel == "monte_carlo":
    return "mean empirical NTK over independent initialisations"
  return ""


@dataclasses.dataclass
class Student:
  """What every kernel needs to know about the student network.

  Attributes:
    name, kwargs: its preset and overrides (for the stax twin).
    num_classes: C.
    f: `f(params, x) -> logits`.
    params: the parameters at which the empirical kernels are taken (any
      pytree `f` takes; leaves under `stop_gradient` in `f`, such as
      `kd_ntk.models.with_state`'s BatchNorm statistics, add nothing).
    init_fn: `init_fn(rng) -> params`, an independent initialisation.
  """

  name: str
  kwargs: dict[str, Any]
  num_classes: int
  f: Callable[[Any, jax.Array], jax.Array]
  params: Any
  init_fn: Callable[[jax.Array], Any]


@dataclasses.dataclass
class GramOptions:
  """How the kernels are computed (fields of the complexity config)."""

  ntk_method: str = "auto"
  ntk_block_size: int = 0
  ntk_float64: bool = True
  mc_samples: int = 8
  mc_seed: int = 0
  twin_parameterization: str = "standard"
  # 0 = the whole matrix for MLPs, blocks of <= 8 otherwise.
  twin_batch_size: int = 0

  def __post_init__(self):
    if self.ntk_method not in METHODS:
      raise ValueError(
        f"ntk_method must be one of {METHODS}; got {self.ntk_method!r}."
      )
    if self.ntk_method == "ntvp" and self.ntk_float64:
      # ntvp never forms the Jacobian blocks a float64 cast would apply to.
      raise ValueError(
        "ntk_method='ntvp' computes in the model's own float32; set "
        "ntk_float64=False with it, or use ntk_method='auto' for float64."
      )

  @classmethod
  def from_config(cls, config) -> "GramOptions":
    """The options from a complexity config; a one-line ValueError if they
    cannot work together (call it before anything is written)."""
    return cls(**{f.name: config[f.name] for f in dataclasses.fields(cls)})


def _blocked_kwargs(options: GramOptions, n: int) -> dict[str, Any]:
  return dict(
    output="trace",
    method=options.ntk_method,
    block_size=options.ntk_block_size or None,
    dtype=jnp.float64 if options.ntk_float64 else None,
    progress=n >= 1024,
  )


def _divisor_at_most(n: int, cap: int) -> int:
  return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def nt_empirical_gram(
  f, params, x, num_classes: int, *, block_size: int = 256
) -> np.ndarray:
  """neural-tangents' empirical NTK, summed over logits, in row and column
  blocks."""
  from kd_ntk.ntk.nt_import import import_neural_tangents

  nt = import_neural_tangents()
  kernel_fn = jax.jit(nt.empirical_ntk_fn(f, trace_axes=(-1,), vmap_axes=0))
  x = np.asarray(x)
  n = len(x)
  gram = np.zeros((n, n), np.float64)
  for i in range(0, n, block_size):
    for j in range(i, n, block_size):
      block = (
        np.asarray(
          kernel_fn(x[i : i + block_size], x[j : j + block_size], params),
          np.float64,
        )
        * num_classes
      )
      gram[i : i + block_size, j : j + block_size] = block
      gram[j : j + block_size, i : i + block_size] = block.T
  # Diagonal blocks are one float32 product each, symmetric only up to rounding.
  return symmetry.symmetrize_(gram)


def gram_matrix(
  kernel: str, student: Student, x, options: GramOptions
) -> np.ndarray:
  """The (n, n) float64 Gram matrix of `kernel` for `student` on inputs `x`."""
  if kernel not in KERNELS:
    raise ValueError(f"Unknown kernel {kernel!r}; choose from {KERNELS}.")
  n = len(x)
  if kernel == "empirical":
    return np.asarray(
      empirical_ntk(
        student.f, student.params, x, **_blocked_kwargs(options, n)
      ),
      np.float64,
    )
  if kernel == "empirical_nt":
    return nt_empirical_gram(student.f, student.params, x, student.num_classes)
  if kernel == "monte_carlo":
    return monte_carlo_ntk(
      student.f,
      student.init_fn,
      x,
      num_samples=options.mc_samples,
      rng=jax.random.PRNGKey(options.mc_seed),
      **_blocked_kwargs(options, n),
    )
  from kd_ntk.ntk.infinite import infinite_kernels

  get = "ntk" if kernel == "infinite" else "nngp"
  cap = options.twin_batch_size or (
    n if student.name in twins.MLP_FAMILY else 8
  )
  batch = _divisor_at_most(n, cap)
  kernels = infinite_kernels(
    student.name,
    x,
    num_classes=student.num_classes,
    get=(get,),
    parameterization=options.twin_parameterization,
    batch_size=0 if batch == n else batch,
    **student.kwargs,
  )
  return symmetry.symmetrize_(kernels[get])
