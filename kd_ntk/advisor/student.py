"""The student the advice is for: a preset name or any `f(params, x)` with θ_0.

A preset is built for the teacher's class count and initialised with
`seed`; its network is `kd_ntk.models.stateful_inference_fn` at
θ_0 = `with_state(variables)` (BatchNorm statistics carried, with zero
gradient), as the complexity runs use. A custom `f` is taken as given; its
output size is checked against the teacher's classes with `jax.eval_shape`
(no computation) before any work.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from kd_ntk.models import (
  MODELS,
  get_model,
  init_variables,
  stateful_inference_fn,
  with_state,
)


@dataclasses.dataclass(frozen=True)
class StudentNet:
  """name ("custom" for a function), f(params, x) -> logits, θ_0, and the preset
  with its overrides (None for a custom f)."""

  name: str
  f: Callable[[Any, jax.Array], jax.Array]
  params: Any
  preset: tuple[str, dict] | None = None


def resolve_student(
  student,
  *,
  num_classes: int,
  input_shape,
  params=None,
  kwargs: dict | None = None,
  seed: int = 0,
) -> StudentNet:
  """A `StudentNet` from a preset name or a function; raises a one-line
  ValueError for an unknown preset, a function without params, or a network
  whose output size is not the teacher's class count."""
  input_shape = tuple(int(s) for s in input_shape)
  if isinstance(student, str):
    if student not in MODELS:
      raise ValueError(
        f"unknown student preset {student!r}; choose one of "
        f"{', '.join(sorted(MODELS))}, or pass f(params, x) with its params."
      )
    if params is not None:
      raise ValueError(
        "student_params is only for a student function; a preset is "
        "initialised from student_seed."
      )
    # JSON lists (e.g. channels) become the tuples the presets use.
    kwargs = {
      k: tuple(v) if isinstance(v, list) else v
      for k, v in (kwargs or {}).items()
    }
    model = get_model(student, num_classes, **kwargs)
    variables = init_variables(model, jax.random.PRNGKey(seed), input_shape)
    net = StudentNet(
      student,
      stateful_inference_fn(model),
      with_state(variables),
      (student, kwargs),
    )
  elif callable(student):
    if params is None:
      raise ValueError(
        "a student function needs its initial parameters: pass "
        "student_params=θ_0 (the pytree f(params, x) takes)."
      )
    if kwargs:
      raise ValueError("student_kwargs apply to presets only.")
    net = StudentNet("custom", student, params)
  else:
    raise ValueError(
      f"student must be a preset name or a function f(params, x); got "
      f"{type(student).__name__}."
    )
  check_output_size(net, num_classes, input_shape)
  return net


def check_output_size(net: StudentNet, num_classes: int, input_shape) -> None:
  """One-line ValueError unless f(θ_0, x) has shape (B, num_classes)."""
  dummy = jax.ShapeDtypeStruct((2, *input_shape), jnp.float32)
  try:
    shape = jax.eval_shape(net.f, net.params, dummy).shape
  except Exception as err:  # pylint: disable=broad-except  # any shape error
    message = " ".join(str(err).split())[:200]
    raise ValueError(
      f"the student cannot run on inputs of shape {tuple(input_shape)}: "
      f"{message}"
    ) from None
  if tuple(shape) != (2, num_classes):
    raise ValueError(
      f"the student outputs shape {tuple(shape)[1:]} per example but the "
      f"teacher has {num_classes} classes; give the student {num_classes} "
      "outputs."
    )
