"""What the complexity run scores and with which network: NTK subsets, teacher
logits and the student (the target matrices: `kd_ntk.scoring.inputs`).

Every read of a training run (teacher or student) goes through this module, so
a rename in `kd_ntk.train` is a one-line change here.
"""

from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from kd_ntk.models import (
  get_model,
  init_variables,
  stateful_inference_fn,
  with_state,
)
from kd_ntk.ntk.kernel_choice import Student
from kd_ntk.scoring import inputs as scoring_inputs
from kd_ntk.train import runs  # the only import of the run reader
from kd_ntk.train.from_config import data_shape_of
from kd_ntk.train.evaluation import predict_logits

load_run = runs.load_run
saved_epochs = runs.saved_epochs


def num_classes_of(run_config) -> int:
  """C recorded in a run's config.json."""
  return data_shape_of(run_config).num_classes


# One implementation of the subsets and random-label seeds: kd_ntk.scoring.
DRAW_STRIDE = scoring_inputs.DRAW_STRIDE
ntk_subsets = scoring_inputs.ntk_subsets


def random_label_seed(config, subset: int, draw: int) -> int:
  """Seed of draw `draw` on `subset`: random_label_seed + 1000·subset + draw."""
  return scoring_inputs.random_label_seed(
    config.random_label_seed, subset, draw
  )


def teacher_logits(
  config, epochs: list[int], *, model, images: np.ndarray, info, mesh
) -> dict[int, np.ndarray]:
  """Logits (N, C) of each teacher checkpoint on `images`."""
  out = {}
  for epoch in epochs:
    variables = runs.restore_variables(
      config.teacher_workdir,
      epoch,
      input_shape=info.image_shape,
      mesh=mesh,
      num_classes=info.num_classes,
    )
    out[epoch] = predict_logits(
      model, variables, images, batch_size=config.eval_batch_size, mesh=mesh
    )
  return out


def student_model(config: ml_collections.ConfigDict, num_classes: int):
  """(preset name, overrides dict, flax module) of the student."""
  if config.student_workdir:
    run_config, model = runs.load_run(config.student_workdir, num_classes)
    kwargs = run_config.get("model_kwargs") or {}
    if isinstance(kwargs, ml_collections.ConfigDict):
      kwargs = kwargs.to_dict()
    kwargs = {
      k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()
    }
    return run_config.model, kwargs, model
  kwargs = config.student_model_kwargs.to_dict()
  return (
    config.student_model,
    kwargs,
    get_model(config.student_model, num_classes, **kwargs),
  )


class StudentCheckpoints:
  """The student network whose kernels the complexity run computes, built once.

  `at(epochs)` yields (student epoch, Student) for each kernel to compute: the
  checkpoints of `config.student_workdir`, or one initialisation (epoch 0) of
  `config.student_model` with `config.student_seed`.

  Every Student shares one network function, `stateful_inference_fn(model)`,
  at θ = `with_state(variables)` (BatchNorm statistics are part of θ, with zero
  gradient, rather than closed over). The kernel engine keys its compiled
  blocks on the function, so it compiles once per run rather than once per
  (subset, checkpoint): a second checkpoint's n = 16 kernel took 1.8 s ->
  0.08 s for `cnn_tiny` and 6.6 s -> 0.3 s for ResNet-8 (Jacobian path). The
  kernel is the closure's up to the float32 rounding of the Jacobians, since
  XLA may fold closed-over statistics into constants: 2e-16 apart on JAX
  0.5.3, 7e-8 on 0.10.2.

  Nothing is read until the first `at`, so a run's own checks of its config
  come first.
  """

  def __init__(self, config, num_classes: int, input_shape):
    self.config = config
    self.num_classes = num_classes
    self.input_shape = tuple(input_shape)
    self._network = None  # (name, kwargs, model, f), read on first use
    self._initial = None  # θ of the initialisation

  def _init_fn(self, key):
    model = self._network[2]
    return with_state(init_variables(model, key, self.input_shape))

  def _student(self, theta) -> Student:
    name, kwargs, _, f = self._network
    return Student(name, kwargs, self.num_classes, f, theta, self._init_fn)

  def at(self, epochs: list[int]) -> Iterator[tuple[int, Student]]:
    if self._network is None:
      name, kwargs, model = student_model(self.config, self.num_classes)
      self._network = (name, kwargs, model, stateful_inference_fn(model))
    if not self.config.student_workdir:
      if self._initial is None:
        key = jax.random.PRNGKey(self.config.student_seed)
        self._initial = self._init_fn(key)
      yield 0, self._student(self._initial)
      return
    for epoch in epochs:
      variables = runs.restore_variables(
        self.config.student_workdir,
        epoch,
        input_shape=self.input_shape,
        num_classes=self.num_classes,
      )
      yield epoch, self._student(with_state(variables))


def logits_in_chunks(f, params, x, batch_size: int) -> np.ndarray:
  apply = jax.jit(f)
  return np.concatenate(
    [
      np.asarray(apply(params, x[i : i + batch_size]))
      for i in range(0, len(x), batch_size)
    ]
  )
