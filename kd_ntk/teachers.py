"""A teacher run of `experiments/train_teacher.py` read back from Python.

    teacher = kd_ntk.load_teacher("runs/teacher")
    teacher.epochs  # (0, 1, ..., E): every saved checkpoint
    x, y = teacher.train_data()  # training images, normalised as it saw them
    x_new = teacher.normalize(images)  # any uint8 images (N, H, W, C), alike
    logits = teacher.logits(x)  # {epoch: (N, C) logits}
    f, params = teacher.inference_fn(10)

A teacher normalises its inputs per channel, `x ↦ (x/255 − mean)/std`, with
the mean and standard deviation of its own (kept) training images
(`kd_ntk.data.prepare_splits`). The run's config.json names that data, so the
statistics are recomputed from it on first use (`teacher.normalization`); the
checkpoints are read with `kd_ntk.train.runs`.
"""

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kd_ntk.data import normalize
from kd_ntk.models.adapter import FlaxAdapter, with_state
from kd_ntk.train import runs
from kd_ntk.train.from_config import data_shape_of, splits_from_config


@dataclasses.dataclass(frozen=True)
class Normalization:
  """Per-channel input normalisation `x ↦ (x/255 − mean)/std` of uint8 images.

  Attributes:
    mean, std: float32 arrays of shape (channels,), from the training images.
  """

  mean: np.ndarray
  std: np.ndarray

  def __call__(self, images_uint8) -> np.ndarray:
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8:
      raise ValueError(
        f"normalize takes raw uint8 images (N, H, W, C); got dtype "
        f"{images.dtype}. Pass the images before any scaling."
      )
    return normalize(images, self.mean, self.std)


class Teacher:
  """The checkpoints of one teacher run, with the normalisation it trained on.

  Attributes:
    workdir: the run directory.
    config: its config (config.json) as an `ml_collections.ConfigDict`.
    model: its flax module (a kd_ntk preset).
    num_classes: C; input_shape: (H, W, channels) of one image.
    epochs: the saved checkpoint epochs, ascending (0 = initialisation).
  """

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(workdir)
    self._reader = runs.RunReader(self.workdir)
    self.config, self.model = self._reader.config, self._reader.model
    shape = data_shape_of(self.config)
    self.num_classes, self.input_shape = shape.num_classes, shape.input_shape
    self.epochs: tuple[int, ...] = tuple(runs.saved_epochs(self.workdir))
    if not self.epochs:
      raise FileNotFoundError(
        f"{self.workdir} holds no checkpoints; train the teacher first "
        "(experiments/train_teacher.py)."
      )
    self._adapter = FlaxAdapter(self.model)
    self._f = self._adapter.stateful_fn()

  def __repr__(self) -> str:
    return (
      f"Teacher({self.workdir!r}: {self.config.model}, C={self.num_classes}, "
      f"input {self.input_shape}, epochs {self.epochs[0]}..{self.epochs[-1]})"
    )

  @functools.cached_property
  def _splits(self):
    return splits_from_config(self.config)

  @property
  def normalization(self) -> Normalization:
    """Mean and std of the teacher's training images (reads its data once)."""
    return Normalization(self._splits.mean, self._splits.std)

  def normalize(self, images_uint8) -> np.ndarray:
    """uint8 images (N, H, W, C) as the teacher's inputs (float32)."""
    return self.normalization(images_uint8)

  def train_data(self) -> tuple[np.ndarray, np.ndarray]:
    """(x, labels): the teacher's own training images, normalised; labels."""
    return self._splits.train_images, self._splits.train_labels

  def test_data(self) -> tuple[np.ndarray, np.ndarray]:
    """(x, labels) of its test split, normalised with training statistics."""
    return self._splits.test_images, self._splits.test_labels

  def _epoch(self, epoch: int) -> int:
    if int(epoch) not in self.epochs:
      raise ValueError(
        f"{self.workdir} has no checkpoint {epoch}; saved epochs: "
        f"{list(self.epochs)}."
      )
    return int(epoch)

  def variables(self, epoch: int) -> dict[str, Any]:
    """The flax variables {"params", "batch_stats"?} of checkpoint `epoch`."""
    return self._reader.variables(self._epoch(epoch))

  def inference_fn(self, epoch: int) -> tuple[Callable, Any]:
    """`(f, θ)` of checkpoint `epoch`, `f(θ, x) -> logits`; one `f` for all."""
    return self._f, with_state(self.variables(epoch))

  def logits(
    self,
    x,
    epochs: Sequence[int] | None = None,
    batch_size: int = 512,
  ) -> dict[int, np.ndarray]:
    """{epoch: logits (N, C) as float32 numpy} of inputs `x` (already
    normalised).

    Args:
      x: inputs (N, H, W, C) normalised as the teacher's (`normalize`).
      epochs: checkpoints to evaluate (None: every saved one).
      batch_size: examples per forward pass.
    """
    import jax  # pylint: disable=g-import-not-at-top

    x = np.asarray(x, np.float32)
    if x.shape[1:] != tuple(self.input_shape):
      raise ValueError(
        f"x has examples of shape {x.shape[1:]}; the teacher takes "
        f"{tuple(self.input_shape)}."
      )
    apply = jax.jit(self._f)
    out = {}
    for epoch in self.epochs if epochs is None else epochs:
      theta = with_state(self.variables(epoch))
      out[int(epoch)] = np.concatenate(
        [
          np.asarray(apply(theta, x[i : i + batch_size]))
          for i in range(0, len(x), batch_size)
        ]
      )
    return out


def load_teacher(workdir: str) -> Teacher:
  """The teacher run in `workdir` (see the module docstring).

  Raises:
    FileNotFoundError: no run, or a run without checkpoints, in `workdir`.
  """
  return Teacher(workdir)
