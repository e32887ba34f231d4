"""The early-stopped teacher: a checkpoint chosen on the validation split.

Candidates are configured teacher epochs; each is scored on a class-balanced
validation split carved from the training data (`kd_ntk.data.prepare_splits`),
never on the test set:

  val_loss      mean cross-entropy −(1/V) Σ_v log softmax(z_T(x_v))_{y_v}
                (lowest wins)
  val_accuracy  top-1 accuracy on the validation split (highest wins)

Ties go to the earlier checkpoint. The scores and the choice are written to
`teacher_selection.json` by the caller, so the report can show them.

The candidates must include a quarter and a half of the teacher's training
(epochs max(1, ⌊T/4⌋) and max(1, ⌊T/2⌋); `early_epochs`), so that "early
stopped" can be genuinely early; validation still decides among them.
"""

import json
import os
from collections.abc import Sequence

from kd_ntk import distributed
from kd_ntk.data import data_mesh
from kd_ntk.train import checkpoint, runs
from kd_ntk.train.evaluation import evaluate
from kd_ntk.train.from_config import splits_from_config

CRITERIA = {"val_loss": ("loss", min), "val_accuracy": ("accuracy", max)}


def validation_data(teacher_config, validation_size: int, validation_seed: int):
  """(images, labels) of the validation split matching a run's data fields."""
  splits = splits_from_config(
    teacher_config,
    validation_size=validation_size,
    validation_seed=validation_seed,
  )
  return splits.validation_images, splits.validation_labels, splits.info


def early_epochs(teacher_epochs: int) -> tuple[int, int]:
  """(a quarter, a half) of T teacher epochs: (max(1, ⌊T/4⌋), max(1, ⌊T/2⌋))."""
  t = int(teacher_epochs)
  return max(1, t // 4), max(1, t // 2)


def check_candidates(
  candidates: Sequence[int], teacher_epochs: int, criterion: str
) -> None:
  """Fails fast (before any training) on a candidate list that cannot be scored
  or that lacks a quarter and a half of training (`early_epochs`)."""
  if criterion not in CRITERIA:
    raise ValueError(
      f"early.criterion must be one of {sorted(CRITERIA)}; got {criterion!r}."
    )
  bad = [e for e in candidates if not 0 < int(e) <= teacher_epochs]
  if not candidates or bad:
    raise ValueError(
      f"early.candidates {tuple(candidates)} must be teacher epochs in "
      f"1..{teacher_epochs} (the teacher's epochs); bad: {bad}."
    )
  missing = sorted(
    set(early_epochs(teacher_epochs)) - {int(e) for e in candidates}
  )
  if missing:
    raise ValueError(
      f"early.candidates {tuple(candidates)} must include {missing}: a quarter "
      f"and a half of the teacher's {teacher_epochs} epochs "
      f"{early_epochs(teacher_epochs)}, so the early-stopped teacher can be "
      "genuinely early; add them."
    )


def select(
  teacher_dir: str,
  candidates: Sequence[int],
  criterion: str,
  *,
  validation_size: int,
  validation_seed: int,
  batch_size: int = 1000,
  cache_path: str = "",
) -> dict:
  """Scores every candidate checkpoint on validation and picks one.

  Returns:
    {"epoch": chosen epoch, "criterion", "candidates", "scores": {epoch:
    {"loss", "accuracy"}}, "validation_size"}; read from `cache_path` when it
    holds the same request.
  """
  request = {
    "candidates": [int(e) for e in candidates],
    "criterion": criterion,
    "validation_size": int(validation_size),
    "validation_seed": int(validation_seed),
  }
  if cache_path and os.path.exists(cache_path):
    with open(cache_path) as fh:
      cached = json.load(fh)
    if all(cached.get(k) == v for k, v in request.items()):
      return cached
  config, model = runs.load_run(teacher_dir)
  check_candidates(candidates, int(config.epochs), criterion)
  saved = checkpoint.saved_epochs(teacher_dir)
  missing = sorted(set(request["candidates"]) - set(saved))
  if missing:
    raise FileNotFoundError(
      f"Teacher run {teacher_dir} lacks candidate checkpoints "
      f"{missing} (saved: {saved})."
    )
  images, labels, info = validation_data(
    config, validation_size, validation_seed
  )
  mesh = data_mesh()
  batch = min(batch_size, len(labels))
  batch -= batch % mesh.devices.size
  scores = {}
  for epoch in request["candidates"]:
    variables = runs.restore_variables(
      teacher_dir,
      epoch,
      input_shape=info.image_shape,
      mesh=mesh,
      num_classes=info.num_classes,
    )
    scores[str(epoch)] = evaluate(
      model, variables, images, labels, batch_size=batch, mesh=mesh
    )
  key, best = CRITERIA[criterion]
  chosen = best(
    request["candidates"],
    key=lambda e: (
      (scores[str(e)][key], -e) if best is max else (scores[str(e)][key], e)
    ),
  )
  result = {
    **request,
    "epoch": int(chosen),
    "scores": scores,
    "final_epoch": int(config.epochs),
  }
  if (
    cache_path and distributed.is_writer()
  ):  # Multi-process runs: process 0 writes.
    with open(cache_path, "w") as fh:
      json.dump(result, fh, indent=1)
  return result
