"""Helpers shared by config files: the argument string and the common blocks.

A config is chosen as `--config=kd_ntk/configs/NAME.py:ARG` where ARG is a
comma-separated list of variant names and `key=value` overrides, e.g.
`quick`, `quick,model=lenet5` or `epochs=30,optimizer.learning_rate=0.02`.
Values are parsed as Python literals when possible (numbers, tuples, booleans).
"""

import ast
import re

import ml_collections

_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class ConfigError(ValueError):
  """A wrong config argument or value; the message says what and how to fix."""


def split_top_level(text: str) -> list[str]:
  """Splits on commas outside brackets: "a,b=(1,2)" -> ["a", "b=(1,2)"]."""
  parts, depth, current = [], 0, ""
  for char in text:
    depth += char in "([{"
    depth -= char in ")]}"
    if char == "," and depth == 0:
      parts.append(current)
      current = ""
    else:
      current += char
  return parts + [current]


def _value(text: str) -> object:
  """A Python literal; "(a,b)" of bare names as the tuple ("a", "b"); else the
  text itself. The one place an argument's text becomes a value."""
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    pass
  inner = text[1:-1] if text[:1] + text[-1:] == "()" else None
  names = [n.strip() for n in (inner or "").split(",") if n.strip()]
  if names and all(_DOTTED_NAME.match(n) for n in names):
    return tuple(names)
  return text


def parse_arg(arg: str) -> tuple[set[str], dict[str, object]]:
  """Splits "quick,epochs=3,classes=(0,6)" into ({"quick"}, {"epochs": 3,
  "classes": (0, 6)})."""
  variants, overrides = set(), {}
  for part in filter(None, (p.strip() for p in split_top_level(arg or ""))):
    if "=" in part:
      key, value = part.split("=", 1)
      if not _DOTTED_NAME.match(key.strip()) or not value.strip():
        raise ConfigError(
          f"Malformed override {part!r}: write key=value with a (dotted) "
          "field name and a value, e.g. optimizer.learning_rate=0.02."
        )
      overrides[key.strip()] = _value(value.strip())
    elif not _DOTTED_NAME.match(part):
      raise ConfigError(
        f"Malformed config argument {part!r}: expected variant names and "
        "key=value overrides separated by commas, e.g. quick,epochs=3."
      )
    else:
      variants.add(part)
  return variants, overrides


def apply_overrides(
  config: ml_collections.ConfigDict, overrides: dict[str, object]
):
  """Sets dotted keys ("optimizer.learning_rate") and rejects unknown ones."""
  for dotted, value in overrides.items():
    node = config
    *parents, leaf = dotted.split(".")
    for depth, name in enumerate(parents):
      where = ".".join(parents[:depth])
      if not isinstance(node, ml_collections.ConfigDict) or name not in node:
        raise ConfigError(
          f"Unknown config field {dotted!r}: no block {name!r}"
          + (f" in {where!r}" if where else "")
          + _known(node)
        )
      node = node[name]
    if not isinstance(node, ml_collections.ConfigDict):
      raise ConfigError(
        f"Unknown config field {dotted!r}: {'.'.join(parents)!r} is a "
        "value, not a block."
      )
    if leaf not in node and parents and parents[-1].endswith("model_kwargs"):
      # Any model option; checked against the model by validation.
      node[leaf] = value
      continue
    if leaf not in node:
      raise ConfigError(f"Unknown config field {dotted!r}" + _known(node))
    try:
      node[leaf] = value
    except (TypeError, ValueError):
      old = node[leaf]
      wanted = (
        "a block of fields (set its fields, e.g. optimizer.momentum=0.5)"
        if isinstance(old, ml_collections.ConfigDict)
        else f"{type(old).__name__} like the default {old!r}"
      )
      raise ConfigError(
        f"{dotted}={value!r} has the wrong type: expected {wanted}."
      ) from None
  return config


def _known(node) -> str:
  if isinstance(node, ml_collections.ConfigDict):
    return f"; known fields here: {', '.join(sorted(node))}."
  return "."


def check_variants(
  variants: set[str], known: set[str], config_name: str
) -> None:
  unknown = variants - known
  if unknown:
    raise ConfigError(
      f"{config_name}: unknown variant(s) {sorted(unknown)}; "
      f"known variants: {sorted(known)}."
    )


def data_block(
  config: ml_collections.ConfigDict, dataset="fashion_mnist"
) -> None:
  """Dataset fields every run has."""
  config.dataset = dataset  # IDX name or any TFDS image dataset.
  config.data_dir = ""  # "" = default (Debian IDX path / TFDS default).
  config.data_source = ""  # "" = IDX for fashion_mnist, TFDS otherwise.
  config.train_subset = 0  # Class-balanced training subset size (0 = all).
  config.subset_seed = 0  # Seed of that subset (shared by teacher/student).
  config.test_subset = 0  # First N test examples (0 = all); for tests.
  config.classes = ()  # Keep only these classes, relabelled 0..k-1
  # (e.g. (0, 6) for a binary task); () = all.
  config.augment = ml_collections.ConfigDict()
  config.augment.pad = 0  # Random-crop padding in pixels (4 for CIFAR).
  config.augment.flip = False  # Random horizontal flips (True for CIFAR).


def optimizer_block(learning_rate=0.05, weight_decay=5e-4, schedule="cosine"):
  """SGD + Nesterov momentum, weight decay and a learning-rate schedule."""
  opt = ml_collections.ConfigDict()
  opt.learning_rate = learning_rate  # Peak learning rate.
  opt.momentum = 0.9  # Heavy-ball / Nesterov momentum (0 = plain SGD).
  opt.nesterov = True  # Nesterov momentum.
  opt.weight_decay = weight_decay  # L2 coefficient added to the gradient.
  opt.schedule = schedule  # cosine | step | constant.
  opt.warmup_epochs = 0.0  # Linear warm-up length in epochs.
  # Fractions of training where "step" decays.
  opt.step_boundaries = (0.5, 0.75)
  opt.step_factor = 0.1  # Multiplier at each step boundary.
  return opt
