"""The teacher side of the advice: its checks, its data and its logits.

Every read of the teacher run goes through `kd_ntk.train.runs` (its config,
model and checkpoints, as the distillation and complexity runs read them).
The checks run before any kernel, logit or factorisation is computed, and
each failure is one line that says what to change.
"""

import dataclasses
import math
import os
from collections.abc import Sequence

import numpy as np

from kd_ntk.advisor.records import Candidate
from kd_ntk.data import class_balanced_subset, data_mesh
from kd_ntk.train import runs
from kd_ntk.train.evaluation import Evaluator
from kd_ntk.train.from_config import data_shape_of, splits_from_config


@dataclasses.dataclass(frozen=True)
class TeacherRun:
  """A checked teacher run: workdir, saved epochs, class count, image shape."""

  workdir: str
  epochs: tuple[int, ...]
  num_classes: int
  input_shape: tuple[int, ...]


def check_teacher(workdir: str) -> TeacherRun:
  """The teacher run, or a one-line error (no run, no checkpoints)."""
  if not workdir or not os.path.isdir(workdir):
    raise FileNotFoundError(
      f"teacher workdir {workdir!r} does not exist; train one with "
      "experiments/train_teacher.py."
    )
  try:
    config, _ = runs.load_run(workdir)
  except (FileNotFoundError, OSError, ValueError, KeyError) as err:
    raise ValueError(
      f"{workdir} is not a training run ({' '.join(str(err).split())})."
    ) from None
  epochs = tuple(runs.saved_epochs(workdir))
  if not epochs:
    raise ValueError(
      f"teacher {workdir} holds no checkpoints; train it (or let it finish "
      "an epoch) with experiments/train_teacher.py."
    )
  shape = data_shape_of(config)
  return TeacherRun(
    workdir, epochs, shape.num_classes, tuple(shape.input_shape)
  )


def check_candidates(
  teacher: TeacherRun,
  epochs: Sequence[int] | None,
  temperatures: Sequence[float],
) -> list[Candidate]:
  """Every (epoch, τ) pair, epoch-major; None epochs means every saved one."""
  epochs = list(teacher.epochs) if epochs is None else [int(e) for e in epochs]
  temperatures = [float(t) for t in temperatures]
  if not epochs or not temperatures:
    raise ValueError(
      "the candidate list is empty: give at least one checkpoint and one "
      f"temperature (saved checkpoints: {list(teacher.epochs)})."
    )
  missing = sorted(set(epochs) - set(teacher.epochs))
  if missing:
    raise ValueError(
      f"checkpoints {missing} are not saved in {teacher.workdir}; saved: "
      f"{list(teacher.epochs)}."
    )
  bad = [t for t in temperatures if not (math.isfinite(t) and t > 0)]
  if bad:
    raise ValueError(f"temperatures must be finite and > 0; got {bad}.")
  if len(set(epochs)) != len(epochs) or len(set(temperatures)) != len(
    temperatures
  ):
    raise ValueError(
      f"candidate checkpoints or temperatures repeat: {epochs}, {temperatures}."
    )
  return [Candidate(e, t) for e in epochs for t in temperatures]


def check_split(name: str, split, teacher: TeacherRun, min_size: int) -> None:
  """(images, labels) of the teacher's image shape, labels in [0, C)."""
  if split is None:
    return
  try:
    images, labels = split
  except (TypeError, ValueError):
    raise ValueError(f"{name} must be a pair (images, labels).") from None
  images, labels = np.asarray(images), np.asarray(labels)
  if images.shape[1:] != teacher.input_shape or len(images) != len(labels):
    raise ValueError(
      f"{name} images must have shape (N, {', '.join(map(str, teacher.input_shape))}) "
      f"with N labels; got {images.shape} and {labels.shape}."
    )
  if len(labels) < min_size:
    raise ValueError(
      f"{name} needs at least {min_size} examples; got {len(labels)}."
    )
  if not np.issubdtype(labels.dtype, np.integer) or (
    labels.size and (labels.min() < 0 or labels.max() >= teacher.num_classes)
  ):
    raise ValueError(
      f"{name} labels must be integers in [0, {teacher.num_classes})."
    )


def teacher_data(
  teacher: TeacherRun, *, n: int, n_validation: int, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
  """A class-balanced kernel subset of n of the teacher's training examples, and
  a validation split of n_validation examples carved from the training pool,
  disjoint from the teacher's training subset (`prepare_splits`); both
  normalised as the teacher saw its data."""
  config, _ = runs.load_run(teacher.workdir)
  splits = splits_from_config(
    config, validation_size=int(n_validation), validation_seed=int(seed)
  )
  if n > len(splits.train_labels):
    raise ValueError(
      f"n={n} exceeds the teacher's {len(splits.train_labels)} training examples."
    )
  pick = np.sort(
    class_balanced_subset(splits.train_labels, n, seed, teacher.num_classes)
  )
  return (
    (splits.train_images[pick], splits.train_labels[pick]),
    (splits.validation_images, splits.validation_labels),
  )


def teacher_logits(
  teacher: TeacherRun, epochs: Sequence[int], *images, batch_size: int = 1000
) -> dict[int, list[np.ndarray]]:
  """epoch -> [logits on each of `images`] for every checkpoint in `epochs`."""
  reader = runs.RunReader(teacher.workdir, keep=0)
  evaluator = Evaluator(reader.model, batch_size, data_mesh())  # compiled once
  out = {}
  for epoch in sorted(set(epochs)):
    variables = reader.variables(epoch)
    out[epoch] = [
      evaluator.logits(variables, x)
      if len(x)
      else np.zeros((0, teacher.num_classes))
      for x in images
    ]
  return out
