"""How the "trace" kernel reduces over the C logits: kd_ntk's sum or
neural-tangents' mean.

    "sum"  (default)  K_ij = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩
                      the kernel K of Harutyunyan et al. (ICLR 2023), and of
                      every complexity number kd_ntk reports;
    "mean"            K_ij / C, what neural-tangents'
                      `empirical_ntk_fn(f, trace_axes=(-1,))` returns.

ASC, `(1/n)·sqrt(SC·tr K)`, is invariant to K → cK (its ridge is relative to
tr K / n), so both give the same supervision complexity; raw kernel values,
eigenvalues and SC itself differ by the factor C.
"""

import functools
import inspect

import jax
import numpy as np

TRACE_REDUCTIONS = ("sum", "mean")


def num_logits(f, params, x) -> int:
  """C: the size of `f(params, x[:1])` after the batch axis (axes flattened)."""
  out = jax.eval_shape(f, params, np.asarray(x[:1]))
  return int(np.prod(out.shape[1:]))


def with_trace_reduction(fn):
  """Adds the `trace_reduction` convention to a kernel function whose signature
  has `f, params, x1, ..., output, trace_reduction` (the function itself
  ignores `trace_reduction`: it always sums). Checks it before any work."""
  signature = inspect.signature(fn)

  @functools.wraps(fn)
  def wrapped(*args, **kwargs):
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    reduction, output = (
      bound.arguments["trace_reduction"],
      bound.arguments["output"],
    )
    if reduction not in TRACE_REDUCTIONS:
      raise ValueError(
        f"trace_reduction must be one of {TRACE_REDUCTIONS}; got {reduction!r}."
      )
    if reduction == "mean" and output != "trace":
      raise ValueError(
        f"trace_reduction='mean' applies to output='trace' only; got "
        f"output={output!r} (its entries are per logit already)."
      )
    gram = fn(*args, **kwargs)
    if reduction == "sum":
      return gram
    c = num_logits(*(bound.arguments[k] for k in ("f", "params", "x1")))
    return np.asarray(gram / np.asarray(c, gram.dtype), gram.dtype)

  return wrapped
