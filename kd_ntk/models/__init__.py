"""flax linen model families, their registry, and the adapter for any module.

`FlaxAdapter` (and `inference_fn`, `init_variables`, `stateful_inference_fn`,
which use it) call any flax module in inference mode, with or without a
`train` argument: see `kd_ntk.models.adapter`.
"""

from kd_ntk.models.adapter import (
  FlaxAdapter,
  as_function,
  inference_kwargs,
)
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
  "FlaxAdapter",
  "as_function",
  "flops_per_example",
  "get_model",
  "inference_fn",
  "inference_kwargs",
  "init_variables",
  "parameter_count",
  "stateful_inference_fn",
  "with_state",
]
