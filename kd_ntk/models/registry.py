"""Model presets by name, and trained variables turned into `f(params, x)`."""

from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk.models.adapter import FlaxAdapter, with_state  # noqa: F401
from kd_ntk.models.cnn import PlainCNN
from kd_ntk.models.lenet import LeNet5
from kd_ntk.models.mlp import MLP
from kd_ntk.models.mobilenet import MobileNetV3Small
from kd_ntk.models.resnet import CifarResNet
from kd_ntk.models.user_models import is_import_path, model_from_path

# name -> (module class, default keyword arguments). Keyword arguments given to
# `get_model` override the defaults.
MODELS: dict[str, tuple[type, dict[str, Any]]] = {
  "mlp": (MLP, dict(width=128, depth=1)),
  "mlp16": (MLP, dict(width=16, depth=1)),
  "mlp128": (MLP, dict(width=128, depth=1)),
  "lenet5": (LeNet5, dict(width_multiplier=1)),
  "lenet5x8": (LeNet5, dict(width_multiplier=8)),
  "cnn_tiny": (PlainCNN, dict(channels=(8, 16), hidden=32)),
  # No BatchNorm: on the CPU backend BatchNorm made this network 2.5x slower.
  "cnn": (
    PlainCNN,
    dict(channels=(32, 64, 128), hidden=256, use_batchnorm=False),
  ),
  "cnn_bn": (PlainCNN, dict(channels=(32, 64, 128), hidden=256)),
  "cnn_wide": (
    PlainCNN,
    dict(channels=(64, 128, 256), hidden=512, convs_per_stage=2),
  ),
  "resnet8": (CifarResNet, dict(depth=8)),
  "resnet20": (CifarResNet, dict(depth=20)),
  "resnet56": (CifarResNet, dict(depth=56)),
  "resnet110": (CifarResNet, dict(depth=110)),
  "resnet8_nf": (CifarResNet, dict(depth=8, norm="none")),
  "resnet20_nf": (CifarResNet, dict(depth=20, norm="none")),
  "mobilenetv3_small": (MobileNetV3Small, dict(width_multiplier=1.0)),
  "mobilenetv3_narrow": (MobileNetV3Small, dict(width_multiplier=0.35)),
  "mobilenetv3_wide": (MobileNetV3Small, dict(width_multiplier=2.0)),
}


def get_model(name: str, num_classes: int, **kwargs) -> nn.Module:
  """Builds the preset `name` (or a user's model) with `num_classes` logits.

  Args:
    name: a key of `MODELS`, e.g. "lenet5", "resnet20", "cnn"; or a user's
      model as `"module:attribute"` / `"file.py:attribute"`
      (`kd_ntk.models.user_models`).
    num_classes: number of output logits C.
    **kwargs: overrides of the preset's module attributes (e.g. width=64).

  Returns:
    An un-initialised flax linen module mapping NHWC images to logits (B, C);
    the presets' `__call__(x, train=False)`.
  """
  if is_import_path(name):
    return model_from_path(name, num_classes, **kwargs)
  if name not in MODELS:
    raise ValueError(
      f"Unknown model {name!r}; choose one of {sorted(MODELS)}, or name your "
      "own as 'module:attribute'."
    )
  if num_classes < 2:
    raise ValueError(f"num_classes must be >= 2; got {num_classes}.")
  cls, defaults = MODELS[name]
  fields = set(cls.__dataclass_fields__) - {"parent", "name"}
  unknown = set(kwargs) - fields
  if unknown:
    raise ValueError(
      f"Model {name!r} has no option(s) {sorted(unknown)}; "
      f"its options are {sorted(fields - {'num_classes'})}."
    )
  return cls(num_classes=num_classes, **{**defaults, **kwargs})


def init_variables(
  model: nn.Module, rng: jax.Array, input_shape
) -> Mapping[str, Any]:
  """Initialises any flax module on a dummy batch of one input of `input_shape`
  (e.g. (H, W, C)), in inference mode (`adapter.FlaxAdapter`: `train=False`
  where `__call__` takes it, nothing where it takes only `x`)."""
  dummy = jnp.zeros((1, *input_shape), jnp.float32)
  return FlaxAdapter(model).init(rng, dummy)


def inference_fn(
  model: nn.Module, variables: Mapping[str, Any]
) -> tuple[Callable[[Any, jax.Array], jax.Array], Any]:
  """Turns trained variables into `(f, params)` with `f(params, x) -> logits`.

  Every collection other than "params" (BatchNorm running statistics) is closed
  over, and the model runs in inference mode, so `f` is a deterministic function
  of the parameters: the form the NTK code differentiates. Any flax module
  works, with or without a `train` argument (`kd_ntk.models.adapter`).
  """
  return FlaxAdapter(model).inference_fn(variables)


def stateful_inference_fn(
  model: nn.Module,
) -> Callable[[Mapping[str, Any], jax.Array], jax.Array]:
  """`f(θ, x) -> logits` for every checkpoint of `model`, with
  θ = `with_state(variables)` = {"params": ..., "state": {collection: ...}}.

  `inference_fn`'s network, but the collections other than "params"
  (BatchNorm running statistics) are part of the argument rather than closed
  over, under `stop_gradient`: they add only zero columns to any Jacobian, so
  every NTK of `f` at θ equals that of `inference_fn(model, variables)` (up
  to float32 rounding, where XLA folds the closure's statistics into
  constants), and one `f` serves every checkpoint (kernels compiled for `f`
  are reused).
  """

  return FlaxAdapter(model).stateful_fn()


def parameter_count(params) -> int:
  """Total number of scalar parameters in a pytree."""
  return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))


def flops_per_example(model: nn.Module, variables, input_shape) -> float:
  """Forward-pass FLOPs of one example, from XLA's cost analysis (or nan)."""
  f, params = inference_fn(model, variables)
  x = jnp.zeros((1, *input_shape), jnp.float32)
  try:
    cost = jax.jit(f).lower(params, x).compile().cost_analysis()
  except (
    Exception
  ):  # Cost analysis is backend-specific; never fail training on it.
    return float("nan")
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  return float((cost or {}).get("flops", float("nan")))
