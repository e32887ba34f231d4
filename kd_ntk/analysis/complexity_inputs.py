"""What the complexity run scores and with which network: NTK subsets, target
matrices, teacher logits and the student.

Every read of a training run (teacher or student) goes through this module, so
a rename in `kd_ntk.train` is a one-line change here.
"""

from typing import Dict, Iterator, List, Tuple

import jax
import ml_collections
import numpy as np

from kd_ntk import complexity
from kd_ntk.data import class_balanced_subset
from kd_ntk.models import (
  get_model,
  init_variables,
  stateful_inference_fn,
  with_state,
)
from kd_ntk.ntk.kernel_choice import Student
from kd_ntk.train import runs  # the only import of the run reader
from kd_ntk.train.from_config import data_shape_of
from kd_ntk.train.evaluation import predict_logits

load_run = runs.load_run
saved_epochs = runs.saved_epochs


def num_classes_of(run_config) -> int:
  """C recorded in a run's config.json."""
  return data_shape_of(run_config).num_classes


# Seed of random-label draw d on subset s: random_label_seed + DRAW_STRIDE·s + d.
DRAW_STRIDE = 1000


def ntk_subsets(
  labels: np.ndarray, n: int, num_subsets: int, seed: int, num_classes: int
) -> List[np.ndarray]:
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


def random_label_seed(config, subset: int, draw: int) -> int:
  return int(config.random_label_seed) + DRAW_STRIDE * subset + draw


def target_sets(
  config,
  labels: np.ndarray,
  num_classes: int,
  teacher_logits: Dict[int, np.ndarray],
  subset: int = 0,
) -> Iterator[Tuple[Dict, np.ndarray]]:
  """Yields (description, Y) for labels, each random-label draw and every
  (teacher epoch, τ). `draw` is 0 on rows without a random draw."""
  yield {"target": "labels", "draw": 0}, complexity.one_hot(labels, num_classes)
  for draw in range(config.num_random_draws):
    yield (
      {"target": "random_labels", "draw": draw},
      complexity.random_labels(
        len(labels), num_classes, random_label_seed(config, subset, draw)
      ),
    )
  for epoch, logits in sorted(teacher_logits.items()):
    for tau in config.temperatures:
      yield (
        {
          "target": "teacher",
          "teacher_epoch": epoch,
          "temperature": float(tau),
          "draw": 0,
        },
        complexity.teacher_probabilities(logits, float(tau), config.centered),
      )


def teacher_logits(
  config, epochs: List[int], model, images: np.ndarray, info, mesh
) -> Dict[int, np.ndarray]:
  """Logits (N, C) of each teacher checkpoint on `images`."""
  out = {}
  for epoch in epochs:
    variables = runs.restore_variables(
      config.teacher_workdir, epoch, info.image_shape, mesh, info.num_classes
    )
    out[epoch] = predict_logits(
      model, variables, images, config.eval_batch_size, mesh
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

  def at(self, epochs: List[int]) -> Iterator[Tuple[int, Student]]:
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
        self.input_shape,
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
