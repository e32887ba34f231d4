"""Input checks of `kd_ntk.ntk.empirical_ntk`, run before any expensive work:
one-line errors that say what is wrong and how to fix it."""

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk.ntk.planning import METHODS, OUTPUTS


def validate(
  x1, x2, *, output: str, method: str, block_size: int | None
) -> None:
  if output not in OUTPUTS:
    raise ValueError(f"Unknown output {output!r}; choose one of {OUTPUTS}.")
  if method not in METHODS:
    raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
  if np.ndim(x1) < 1 or len(x1) == 0:
    raise ValueError(
      f"x1 must hold at least one example; got shape {np.shape(x1)}."
    )
  if x2 is not None:
    if np.ndim(x2) < 1 or len(x2) == 0:
      raise ValueError(
        f"x2 must hold at least one example; got shape {np.shape(x2)}."
      )
    if tuple(np.shape(x1)[1:]) != tuple(np.shape(x2)[1:]):
      raise ValueError(
        "x1 and x2 must have the same per-example shape; got "
        f"{tuple(np.shape(x1)[1:])} and {tuple(np.shape(x2)[1:])}."
      )
  if block_size is not None and (
    isinstance(block_size, bool)
    or int(block_size) != block_size
    or block_size < 1
  ):
    raise ValueError(
      f"block_size must be a positive integer; got {block_size!r}."
    )


def check_cache_bytes(cache_bytes) -> None:
  """None (the default budget) or a positive whole number of bytes."""
  if cache_bytes is None:
    return
  if (
    isinstance(cache_bytes, bool)
    or not isinstance(cache_bytes, (int, np.integer))
    or cache_bytes < 1
  ):
    raise ValueError(
      "cache_bytes must be a positive number of bytes (e.g. 6 * 2**30), or "
      f"None for the default; got {cache_bytes!r}."
    )


def check_finite(params, x1, x2) -> None:
  """Refuses NaN/Inf inputs or parameters before any work (no NaN Grams)."""
  for name, x in (("x1", x1), ("x2", x2)):
    if x is None:
      continue
    arr = np.asarray(x)
    if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
      bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
      raise ValueError(
        f"{name} holds {bad} non-finite value(s) (NaN or Inf); "
        "clean or drop those examples first."
      )
  leaves = jax.tree_util.tree_leaves_with_path(params)
  for path, leaf in leaves:
    arr = np.asarray(leaf)
    if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
      raise ValueError(
        f"parameter {jax.tree_util.keystr(path) or '<root>'} holds "
        "non-finite values (NaN or Inf); the network diverged or was "
        "loaded wrongly: use finite parameters."
      )


def check_batch_output(f, params, x_example) -> None:
  """f must map a batch of B examples to B rows of logits."""
  try:
    out = jax.eval_shape(f, params, jnp.asarray(x_example)[None])
  except Exception as err:
    raise ValueError(
      f"f(params, x) failed on a batch of one example of shape "
      f"{tuple(np.shape(x_example))}: {err}"
    ) from err
  shape = getattr(out, "shape", None)
  if shape is None or len(shape) < 1 or shape[0] != 1:
    raise ValueError(
      "f(params, x) must return one row of logits per example, "
      f"(B, C); for B = 1 it returned {shape if shape is not None else out}."
    )
  if len(shape) == 1:
    raise ValueError(
      "f(params, x) must return one row of logits per example, "
      "(B, C); it returned shape (B,). For one output per example "
      "return f(params, x)[:, None], i.e. shape (B, 1)."
    )
