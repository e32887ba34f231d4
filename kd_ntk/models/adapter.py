"""Any flax linen module as `f(params, x) -> logits`, the form the NTK code
takes.

kd_ntk's presets take `__call__(x, train=False)`; a user's module may take no
mode argument at all, another name for it, or write to mutable collections.
`FlaxAdapter` finds out once, from the signature of the module's `__call__`:

  * a parameter named `train`, `training` or `is_training` is passed False;
    `deterministic` or `use_running_average` is passed True (inference mode);
    none of them: the module is called as `module.apply(variables, x)`;
  * `call_kwargs={...}` replaces that guess entirely (e.g. `{"mode": "eval"}`);
  * a module that writes a collection while called in that mode (a counter, a
    BatchNorm without a mode argument) is applied with those collections
    mutable and the updates discarded. Batch statistics make the examples of a
    batch interact, which the NTK code does not allow: give such a module a
    mode argument (or `use_running_average=True`).

Every collection other than "params" (BatchNorm running statistics) is state:
`inference_fn` closes over it, `stateful_fn` takes it in the argument under
`stop_gradient` (one `f` for every checkpoint, so kernels compile once).

Example, a module without `train`:

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.Dense(10)(x.reshape((x.shape[0], -1)))

  adapter = FlaxAdapter(Net())
  variables = adapter.init(jax.random.PRNGKey(0), x[:1])
  f, params = adapter.inference_fn(variables)   # f(params, x) -> (B, 10)
"""

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from flax import errors as flax_errors
import flax.linen as nn
import jax
import jax.numpy as jnp

# Mode arguments recognised in `__call__`'s signature, and their inference
# value.
INFERENCE_FLAGS = {
  "train": False,
  "training": False,
  "is_training": False,
  "deterministic": True,
  "use_running_average": True,
}


def inference_kwargs(module: nn.Module) -> dict[str, bool]:
  """The keyword arguments that put `module` in inference mode (see module doc).

  Returns:
    e.g. {"train": False} for kd_ntk's presets, {} for a module whose
    `__call__` takes only its input.
  """
  if not isinstance(module, nn.Module):
    raise TypeError(
      f"expected a flax linen Module; got {type(module).__name__}. "
      "Plain functions f(params, x) need no adapter."
    )
  try:
    parameters = inspect.signature(type(module).__call__).parameters
  except (TypeError, ValueError):  # No readable signature: call with x alone.
    return {}
  return {k: v for k, v in INFERENCE_FLAGS.items() if k in parameters}


def _state(variables: Mapping[str, Any]) -> dict[str, Any]:
  return {k: v for k, v in variables.items() if k != "params"}


class FlaxAdapter:
  """Calls a flax module in inference mode, whatever its `__call__` takes.

  Args:
    module: a flax linen module mapping a batch (B, ...) to logits (B, C).
    call_kwargs: keyword arguments for every call (None: `inference_kwargs`).
    output: maps what the module returns to the logits (B, C), e.g.
      `lambda out: out[0]` for a module returning (logits, features).
  """

  def __init__(
    self,
    module: nn.Module,
    call_kwargs: Mapping[str, Any] | None = None,
    output: Callable[[Any], jax.Array] | None = None,
  ):
    default = inference_kwargs(module)
    self.module = module
    self.call_kwargs = dict(default if call_kwargs is None else call_kwargs)
    self.output = output
    # Collections the module writes in this mode, found at the first call.
    self.mutable: tuple[str, ...] | None = None

  def _logits(self, out) -> jax.Array:
    if self.output is not None:
      out = self.output(out)
    if not hasattr(out, "shape"):
      raise ValueError(
        f"{type(self.module).__name__} returns a {type(out).__name__}, not an "
        "array of logits; pass output=lambda out: ... selecting the logits."
      )
    return out

  def apply(self, variables: Mapping[str, Any], x) -> jax.Array:
    """Logits of `x` under `variables` ({"params": ..., other collections})."""
    if self.mutable is None:
      try:
        out = self.module.apply(variables, x, **self.call_kwargs)
        self.mutable = ()
        return self._logits(out)
      except flax_errors.ModifyScopeVariableError:
        self.mutable = tuple(_state(variables)) or True
    if not self.mutable:
      return self._logits(self.module.apply(variables, x, **self.call_kwargs))
    out, _ = self.module.apply(
      variables, x, mutable=self.mutable, **self.call_kwargs
    )
    return self._logits(out)

  def init(self, rng: jax.Array, x) -> dict[str, Any]:
    """Variables of the module, initialised on the batch `x` (B, ...)."""
    return self.module.init(
      {"params": rng, "dropout": rng}, jnp.asarray(x), **self.call_kwargs
    )

  def inference_fn(
    self, variables: Mapping[str, Any]
  ) -> tuple[Callable[[Any, jax.Array], jax.Array], Any]:
    """`(f, params)`, `f(params, x) -> logits`; other collections closed in."""
    if "params" not in variables:
      raise ValueError(
        f"variables must hold a 'params' collection; got {sorted(variables)}. "
        "Pass what module.init returned."
      )
    state = _state(variables)

    def f(params, x):
      return self.apply({"params": params, **state}, x)

    return f, variables["params"]

  def stateful_fn(self) -> Callable[[Mapping[str, Any], jax.Array], jax.Array]:
    """`f(θ, x)` for θ = `with_state(variables)`: the state is in the argument,
    under `stop_gradient`, so one `f` serves every checkpoint."""

    def f(theta, x):
      state = jax.lax.stop_gradient(theta["state"])
      return self.apply({"params": theta["params"], **state}, x)

    return f


def with_state(variables: Mapping[str, Any]) -> dict[str, Any]:
  """θ of `FlaxAdapter.stateful_fn`: the parameters and other collections."""
  return {"params": variables["params"], "state": _state(variables)}


def as_function(model, variables) -> tuple[Callable, Any]:
  """`(f, params)` from a flax module and its variables, or from `(f, params)`.

  Lets an API take either a plain function `f(params, x)` with its parameters
  or a flax module with the variables `module.init` returned.
  """
  if isinstance(model, nn.Module):
    return FlaxAdapter(model).inference_fn(variables)
  if not callable(model):
    raise TypeError(
      f"expected f(params, x) or a flax Module; got {type(model).__name__}."
    )
  return model, variables
