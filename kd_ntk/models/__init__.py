"""flax linen model families and their registry."""

from kd_ntk.models.registry import (
  MODELS,
  flops_per_example,
  get_model,
  inference_fn,
  init_variables,
  parameter_count,
  stateful_inference_fn,
  with_state,
)

__all__ = [
  "MODELS",
  "flops_per_example",
  "get_model",
  "inference_fn",
  "init_variables",
  "parameter_count",
  "stateful_inference_fn",
  "with_state",
]
