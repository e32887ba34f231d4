"""What `score_teacher` scores: NTK subsets of the inputs and the target
matrices.

Targets, Y ∈ R^{n×C} on one subset (Harutyunyan et al., ICLR 2023):

  labels          Y_ic = 1[y_i = c]
  random labels   one-hot of y_i ~ Uniform{0..C−1}, draw d of subset s seeded
                  `seed + DRAW_STRIDE·s + d` (the reproduction's seeds)
  teacher         softmax(z_i/τ) of checkpoint logits z (minus 1/C if centred)
"""

import math
import os
from collections.abc import Iterator, Sequence

import numpy as np

from kd_ntk import complexity
from kd_ntk.data import class_balanced_subset

# n per subset when only a count of subsets is given: min(N // count, this).
DEFAULT_MAX_EXAMPLES = 1024
# Seed of random-label draw d on subset s: seed + DRAW_STRIDE·s + d.
DRAW_STRIDE = 1000


def random_label_seed(seed: int, subset: int, draw: int) -> int:
  return int(seed) + DRAW_STRIDE * int(subset) + int(draw)


def ntk_subsets(
  labels: np.ndarray, n: int, *, num_subsets: int, seed: int, num_classes: int
) -> list[np.ndarray]:
  """`num_subsets` pairwise disjoint class-balanced index sets of size n.

  All subsets are members of one chain: member k is
  `class_balanced_subset(·, n, k)` drawn from the examples members 0..k−1 did
  not take. This call returns members seed, …, seed + num_subsets − 1, so the
  subsets of one call, and of calls with different seeds (a reproduction runs
  subset s as its own run with seed s and num_subsets 1), never share an
  example. Member 0 is the single subset of earlier versions.

  Raises:
    ValueError: seed < 0, or fewer than (seed + num_subsets)·n examples.
  """
  total = int(seed) + int(num_subsets)
  if seed < 0 or num_subsets < 1:
    raise ValueError(
      f"NTK subsets need seed >= 0 and num_subsets >= 1; got seed={seed}, "
      f"num_subsets={num_subsets}."
    )
  if total * n > len(labels):
    raise ValueError(
      f"{total} disjoint NTK subsets of n={n} need {total * n} examples but "
      f"the training set has {len(labels)}: lower num_examples or "
      "num_subsets (or the subset seed)."
    )
  remaining = np.arange(len(labels))
  chain = []
  for k in range(total):
    pick = remaining[
      class_balanced_subset(labels[remaining], n, k, num_classes)
    ]
    chain.append(np.sort(pick))
    remaining = np.setdiff1d(remaining, pick)
  return chain[int(seed) :]


def resolve_subsets(
  subsets,
  num_examples: int | None,
  *,
  total: int,
  labels,
  num_classes: int,
  seed,
) -> list[np.ndarray]:
  """Index arrays of the NTK subsets from `subsets` (a count or index arrays).

  A count k takes k disjoint subsets of `num_examples` (default `total // k`,
  at most `DEFAULT_MAX_EXAMPLES`): class-balanced when labels are given
  (`ntk_subsets`), else slices of a seeded permutation.
  """
  if isinstance(subsets, (int, np.integer)) and not isinstance(subsets, bool):
    if subsets < 1:
      raise ValueError(f"subsets must be >= 1; got {subsets}.")
    n = int(num_examples or min(total // int(subsets), DEFAULT_MAX_EXAMPLES))
    if n < 2 or n > total:
      raise ValueError(
        f"num_examples={n} per subset does not fit {total} inputs (need 2..N); "
        "pass fewer subsets or a smaller num_examples."
      )
    if labels is not None:
      return ntk_subsets(
        labels, n, num_subsets=int(subsets), seed=seed, num_classes=num_classes
      )
    if int(subsets) * n > total:
      raise ValueError(
        f"{subsets} disjoint subsets of n={n} need {subsets * n} inputs; "
        f"x has {total}: lower num_examples or subsets."
      )
    order = np.random.default_rng([seed, 11]).permutation(total)
    return [np.sort(order[s * n : (s + 1) * n]) for s in range(subsets)]
  out = [np.asarray(s) for s in subsets]
  for s in out:
    if s.ndim != 1 or not np.issubdtype(s.dtype, np.integer) or len(s) < 2:
      raise ValueError(
        "subsets must be a count or a list of 1-D integer index arrays of at "
        "least 2 examples each."
      )
    if s.min() < 0 or s.max() >= total:
      raise ValueError(f"subset indices must lie in [0, {total}).")
  if not out:
    raise ValueError("subsets lists no subset.")
  return out


def is_teacher_source(targets) -> bool:
  """A teacher workdir (path) or a loaded `kd_ntk.teachers.Teacher`."""
  from kd_ntk.teachers import Teacher  # pylint: disable=g-import-not-at-top

  return isinstance(targets, (str, os.PathLike, Teacher))


def logits_by_checkpoint(targets, total: int) -> dict:
  """{checkpoint: logits (N, C)} from logits (N, C), (K, N, C) or a dict."""
  if isinstance(targets, dict):
    items = list(targets.items())
  else:
    array = np.asarray(targets)
    if array.ndim == 2:
      items = [(None, array)]
    elif array.ndim == 3:
      items = list(enumerate(array))
    else:
      raise ValueError(
        f"targets must be labels (N,), logits (N, C), per-checkpoint logits "
        f"(K, N, C) or a dict {{checkpoint: logits}}; got shape {array.shape}."
      )
  out = {}
  for key, logits in items:
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[0] != total:
      raise ValueError(
        f"logits of checkpoint {key} have shape {logits.shape}; expected "
        f"({total}, C), one row per input."
      )
    if not np.issubdtype(logits.dtype, np.floating):
      raise ValueError(
        f"logits of checkpoint {key} must be floats; got {logits.dtype}."
      )
    out[key if key is None else int(key)] = logits
  return out


def check_temperatures(temperatures: Sequence[float]) -> tuple[float, ...]:
  out = tuple(float(t) for t in temperatures)
  if not out or any(not (math.isfinite(t) and t > 0) for t in out):
    raise ValueError(
      f"temperatures must be finite and > 0; got {tuple(temperatures)}."
    )
  return out


def target_matrices(
  *,
  labels: np.ndarray | None,
  logits: dict,
  temperatures: Sequence[float],
  random_label_draws: int,
  num_classes: int,
  n: int,
  subset: int,
  seed: int,
  centered: bool = False,
) -> Iterator[tuple[tuple, int, np.ndarray]]:
  """Yields ((target, checkpoint, τ), draw, Y) on one subset: labels, each
  random-label draw, then every (checkpoint, τ) in the order given."""
  if labels is not None:
    yield ("labels", None, None), 0, complexity.one_hot(labels, num_classes)
  for draw in range(random_label_draws):
    y = complexity.random_labels(
      n, num_classes, random_label_seed(seed, subset, draw)
    )
    yield ("random_labels", None, None), draw, y
  for checkpoint, z in logits.items():
    for tau in temperatures:
      y = complexity.teacher_probabilities(z, float(tau), centered)
      yield ("teacher", checkpoint, float(tau)), 0, y
