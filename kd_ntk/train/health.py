"""Finite or nothing: the checks every epoch passes before its row and
checkpoint are written, and the chance-level warning every network (teacher or
student) gets.
"""

import math
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def non_finite_metrics(row: dict[str, Any]) -> list[str]:
  """Names of the row's numeric entries (Python or NumPy numbers) that are NaN
  or ±Inf: the one non-finite check of every epoch row, teacher or student."""
  return sorted(
    k
    for k, v in row.items()
    if isinstance(v, (int, float, np.number))
    and not isinstance(v, bool)
    and not math.isfinite(v)
  )


def non_finite_leaves(tree) -> int:
  """How many floating-point arrays of `tree` hold NaN or ±Inf (one sync)."""
  leaves = [
    x
    for x in jax.tree_util.tree_leaves(tree)
    if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)
  ]
  if not leaves:
    return 0
  flags = jnp.stack([~jnp.all(jnp.isfinite(x)) for x in leaves])
  return int(jnp.sum(flags))


def check_finite_epoch(
  row: dict[str, Any],
  state,
  epoch: int,
  *,
  label: str = "Training",
  hint: str = "lower optimizer.learning_rate",
  error: type = FloatingPointError,
) -> None:
  """Raises `error` (a FloatingPointError) unless every metric of the row and
  every array of the training state (parameters, statistics, optimizer state) is
  finite.

  Called before an epoch's metrics row and checkpoint are written, so no
  non-finite result is ever saved and a resume starts from the last good epoch.
  """
  bad = non_finite_metrics(row)
  arrays = non_finite_leaves(state)
  if not bad and not arrays:
    return
  what = ", ".join(
    [f"{k}={row[k]}" for k in bad]
    + ([f"{arrays} state array(s) with NaN/Inf"] if arrays else [])
  )
  raise error(
    f"{label} diverged at epoch {epoch} ({what}); nothing of "
    f"epoch {epoch} was saved, the last checkpoint is epoch "
    f"{epoch - 1}. Fix: {hint}."
  )


def warn_if_chance_level(
  row: dict[str, Any], num_classes: int, epoch: int, *, label: str, hint: str
) -> bool:
  """Warns (stderr) when test accuracy is at chance level (≤ 1.2/C) after epoch
  2.

  A collapse need not produce a non-finite loss, and is not proof of one, so
  this warns instead of stopping. Returns whether it warned.
  """
  accuracy = row.get("test_accuracy")
  if epoch >= 2 and accuracy is not None and accuracy <= 1.2 / num_classes:
    print(
      f"WARNING: {label} epoch {epoch} test accuracy {accuracy:.3f} is at chance "
      f"level (C={num_classes}); the run may have collapsed. {hint}",
      file=sys.stderr,
      flush=True,
    )
    return True
  return False
