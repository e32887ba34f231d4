"""neural-tangents `stax` twins of kd_ntk's model presets.

A twin is the stax network whose finite-width `init_fn/apply_fn` mirror a
preset and whose `kernel_fn` gives its exact infinite-width NNGP and NTK.
Which presets have one, and where the twin is an approximation, is known
without importing neural-tangents (`twin_note`, `check_twin`); building a twin
(`stax_twin`) imports it.

Twins (`TWIN_NOTES` spells out each approximation):
  * MLP presets: exact (Flatten, depth x (Dense, ReLU), Dense).
  * plain CNN presets: 2x2 average pooling replaces max pooling (neural-tangents
    has no kernel for max pooling); BatchNorm and dropout are refused.
  * LeNet-5 presets: the same substitution; 5x5 "VALID" convolutions, then
    Dense 120, 84, C.
  * norm-free ResNets (`norm="none"`): the network at initialisation. SkipInit
    gains start at 0, so every residual branch outputs 0 and its weights get no
    gradient; what remains is the shortcut path (stem, ReLU, 1x1 stride-2
    projections followed by ReLU, global average pooling, Dense). The NTK term
    of the scalar gains themselves is dropped. The twin does not depend on
    depth.
"""

from typing import Any

from kd_ntk.models.registry import MODELS


def _family(class_name: str):
  return tuple(
    k for k, (cls, _) in MODELS.items() if cls.__name__ == class_name
  )


MLP_FAMILY = _family("MLP")
CNN_FAMILY = _family("PlainCNN")
LENET_FAMILY = _family("LeNet5")
RESNET_FAMILY = tuple(
  k for k in _family("CifarResNet") if MODELS[k][1].get("norm") == "none"
)

_POOL_NOTE = "average pooling replaces max pooling"
TWIN_NOTES: dict[str, str] = {
  **{k: "" for k in MLP_FAMILY},
  **{k: _POOL_NOTE for k in CNN_FAMILY + LENET_FAMILY},
  **{
    k: (
      "network at initialisation: zero SkipInit gains remove the residual "
      "branches; the gains' own NTK term is dropped"
    )
    for k in RESNET_FAMILY
  },
}


def twin_presets():
  """Names of the presets that have a stax twin, sorted."""
  return sorted(TWIN_NOTES)


def model_options(
  name: str, model_kwargs: dict[str, Any] | None = None
) -> dict[str, Any]:
  """The preset's options with overrides applied (no neural-tangents import)."""
  if name not in MODELS:
    raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}.")
  return {**MODELS[name][1], **(model_kwargs or {})}


def check_twin(
  name: str, model_kwargs: dict[str, Any] | None = None
) -> dict[str, Any]:
  """Raises a one-line ValueError unless preset `name` (with `model_kwargs`) has
  a twin; returns its options. Imports nothing heavy."""
  opts = model_options(name, model_kwargs)
  if name not in TWIN_NOTES:
    if name in _family("CifarResNet"):
      hint = " (ResNets only with norm='none')"
    else:
      hint = ""
    raise ValueError(
      f"No stax twin for {name!r}{hint}: twins exist for the presets "
      f"{', '.join(twin_presets())}."
    )
  if name in CNN_FAMILY and opts.get("use_batchnorm", True):
    raise ValueError(
      f"BatchNorm has no infinite-width kernel: build the {name!r} twin "
      "with use_batchnorm=False (student_model_kwargs.use_batchnorm=False)."
    )
  if name in CNN_FAMILY and opts.get("dropout", 0.0):
    raise ValueError("The CNN twin models inference mode only; pass dropout=0.")
  if name in RESNET_FAMILY and opts.get("norm") != "none":
    raise ValueError(
      f"The {name!r} twin needs norm='none' (BatchNorm has no kernel)."
    )
  return opts


def twin_note(name: str) -> str:
  """ "" for an exact twin, else what the twin approximates."""
  check_twin(name)
  return TWIN_NOTES[name]


def stax_twin(
  name: str,
  num_classes: int,
  *,
  parameterization: str = "standard",
  W_std: float = 1.0,
  b_std: float | None = 0.0,
  **model_kwargs,
):
  """`(init_fn, apply_fn, kernel_fn)` of the stax network matching preset
  `name`.

  With the defaults (standard parameterisation, W_std=1, b_std=0) each layer is
  the flax layer itself: LeCun-normal weights of variance 1/fan_in (fan_in =
  channels x filter size for convolutions), trainable biases initialised at 0.
  `parameterization="ntk"` gives the NTK-parameterised network instead (for
  MLPs the twin of `NTKParamMLP`).

  Args:
    name: a preset with a twin (`twin_presets()`).
    num_classes: number of logits C.
    parameterization: "standard" or "ntk" (neural-tangents' meaning).
    W_std, b_std: weight and bias scales (b_std None: no bias).
    **model_kwargs: the preset's options (width, depth, channels, ...).
  """
  # pylint: disable-next=g-import-not-at-top
  from kd_ntk.ntk.nt_import import import_neural_tangents

  opts = check_twin(name, model_kwargs)
  stax = import_neural_tangents().stax
  p = dict(W_std=W_std, b_std=b_std, parameterization=parameterization)
  dense = lambda width: stax.Dense(width, **p)
  if name in MLP_FAMILY:
    layers = [stax.Flatten()]
    for _ in range(opts["depth"]):
      layers += [dense(opts["width"]), stax.Relu()]
  elif name in CNN_FAMILY:
    layers = []
    for width in opts["channels"]:
      for _ in range(opts.get("convs_per_stage", 1)):
        layers += [stax.Conv(width, (3, 3), padding="SAME", **p), stax.Relu()]
      layers.append(stax.AvgPool((2, 2), strides=(2, 2), padding="SAME"))
    layers.append(stax.Flatten())
    if opts.get("hidden"):
      layers += [dense(opts["hidden"]), stax.Relu()]
  elif name in LENET_FAMILY:
    m = opts["width_multiplier"]
    layers = []
    for channels in (6 * m, 16 * m):
      layers += [
        stax.Conv(channels, (5, 5), padding="VALID", **p),
        stax.Relu(),
        stax.AvgPool((2, 2), strides=(2, 2), padding="VALID"),
      ]
    layers += [stax.Flatten(), dense(120), stax.Relu(), dense(84), stax.Relu()]
  else:  # norm-free ResNet at initialisation: the shortcut path.
    # pylint: disable-next=g-import-not-at-top
    from kd_ntk.models.resnet import blocks_per_stage

    blocks_per_stage(opts["depth"])  # validates the depth
    widths = [16 * opts.get("width_multiplier", 1) * 2**s for s in range(3)]
    layers = [stax.Conv(widths[0], (3, 3), padding="SAME", **p), stax.Relu()]
    for width in widths[1:]:  # stride-2 projection; identity blocks add nothing
      layers += [
        stax.Conv(width, (1, 1), strides=(2, 2), padding="SAME", **p),
        stax.Relu(),
      ]
    layers.append(stax.GlobalAvgPool())
  layers.append(dense(num_classes))
  return stax.serial(*layers)
