"""Checks of a config beyond single values: numbers anywhere in it
(non-finite), and NTK subset sizes against the teacher's training data,
from the known sizes of the datasets. Pure functions of configs, like
`kd_ntk.configs.validation`; the checks of the data copy a run reads live in
`kd_ntk.train.preflight`.
"""

import math

import ml_collections

from kd_ntk.configs.common import ConfigError

# (training examples, test examples, classes) of balanced datasets, to check
# subset sizes and class selections without loading the data.
KNOWN_SIZES = {
  "fashion_mnist": (60000, 10000, 10),
  "mnist": (60000, 10000, 10),
  "cifar10": (50000, 10000, 10),
  "cifar100": (50000, 10000, 100),
}


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def non_finite_fields(value, prefix: str = "") -> list[str]:
  """ "name=value must be a finite number" for every NaN or ±Inf anywhere in a
  config (1e999 parses as inf: it would be stored as Infinity and diverge)."""
  if isinstance(value, ml_collections.ConfigDict):
    value = value.to_dict()
  found = []
  if isinstance(value, dict):
    for key, item in value.items():
      found += non_finite_fields(item, f"{prefix}{key}.")
  elif isinstance(value, (list, tuple)):
    if any(_is_number(v) and not math.isfinite(v) for v in value):
      found.append(f"{prefix[:-1]}={tuple(value)!r} must hold finite numbers")
    for item in value:
      if isinstance(item, (dict, ml_collections.ConfigDict)):
        found += non_finite_fields(item, prefix)
  elif _is_number(value) and not math.isfinite(value):
    found.append(f"{prefix[:-1]}={value!r} must be a finite number")
  return found


def merge_non_finite(items: list[str], config, prefix: str = "") -> list[str]:
  """`items` plus the non-finite fields no item already names."""
  named = {i.split("=", 1)[0] for i in items}
  return items + [
    f
    for f in non_finite_fields(config, prefix)
    if f.split("=", 1)[0] not in named
  ]


def describe_data(record) -> str:
  return f"{record.get('location')} ({record.get('source')})"


def _pool(teacher) -> tuple[int | None, int | None]:
  """(classes, training examples) a teacher config trains on (None: unknown)."""
  sizes = KNOWN_SIZES.get(teacher.get("dataset"))
  classes = tuple(teacher.get("classes") or ())
  num_classes = (
    teacher.get("num_classes")
    or (len(classes) if classes else None)
    or (sizes[2] if sizes else None)
  )
  pool = teacher.get("train_subset") or (
    sizes[0] * (len(classes) if classes else sizes[2]) // sizes[2]
    if sizes
    else None
  )
  return num_classes, pool


def check_examples_fit(n, teacher, name: str) -> None:
  """Raises unless an NTK subset of `n` examples can be drawn class-balanced
  from
  the teacher's training examples: C <= n <= the examples it trained on."""
  num_classes, pool = _pool(teacher)
  if num_classes and n < num_classes:
    raise ConfigError(
      f"config: {name}={n} is below the teacher's {num_classes} classes; a "
      f"class-balanced subset needs at least one example per class."
    )
  if pool and n > pool:
    raise ConfigError(
      f"config: {name}={n} exceeds the {pool} training examples the teacher "
      "was trained on; lower it."
    )
