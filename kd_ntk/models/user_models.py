"""A user's own flax model named by an import path, `module:attribute`.

Configs name models by preset (`kd_ntk.models.MODELS`) or by a path:

    student_model = "my_models:SmallCNN"  # module on sys.path (or the cwd)
    student_model = "path/to/my_models.py:SmallCNN"  # a file

The attribute may be

  * a flax `nn.Module` subclass: built as `cls(**kwargs)`, plus
    `num_classes=C` when the class has that field and kwargs do not set it;
  * a module instance: used as it is (no kwargs);
  * any other callable returning a module (a factory): called with kwargs,
    plus `num_classes=C` when its signature takes it.

The module may take `train` or not (`kd_ntk.models.adapter`).
"""

import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any

import flax.linen as nn


def is_import_path(name: str) -> bool:
  return isinstance(name, str) and ":" in name


def _import(module_name: str):
  if module_name.endswith(".py"):
    if not os.path.isfile(module_name):
      raise ValueError(f"model file {module_name} does not exist.")
    stem = os.path.splitext(os.path.basename(module_name))[0]
    spec = importlib.util.spec_from_file_location(
      f"kd_ntk_user_{stem}", module_name
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
  if os.getcwd() not in sys.path:  # launchers run as scripts: cwd is not on it
    sys.path.append(os.getcwd())
  try:
    return importlib.import_module(module_name)
  except ImportError as err:
    raise ValueError(
      f"cannot import {module_name!r} ({err}); put it on PYTHONPATH or in the "
      "current folder, or name a file: 'path/to/file.py:attribute'."
    ) from None


def model_from_path(path: str, num_classes: int, **kwargs: Any) -> nn.Module:
  """The flax module named by `module:attribute` (see the module docstring)."""
  module_name, _, attribute = path.rpartition(":")
  if not module_name or not attribute:
    raise ValueError(
      f"model path {path!r} must look like 'module:attribute' or "
      "'file.py:attribute'."
    )
  target = getattr(_import(module_name), attribute, None)
  if target is None:
    raise ValueError(f"{module_name!r} has no attribute {attribute!r}.")
  if isinstance(target, nn.Module):
    if kwargs:
      raise ValueError(
        f"{path} is a module instance; it takes no model kwargs "
        f"(got {sorted(kwargs)})."
      )
    return target
  if isinstance(target, type) and issubclass(target, nn.Module):
    if "num_classes" in target.__dataclass_fields__:
      kwargs.setdefault("num_classes", num_classes)
    model = target(**kwargs)
  elif callable(target):
    try:
      takes = inspect.signature(target).parameters
    except (TypeError, ValueError):
      takes = {}
    if "num_classes" in takes:
      kwargs.setdefault("num_classes", num_classes)
    model = target(**kwargs)
  else:
    raise ValueError(
      f"{path} is a {type(target).__name__}; name a flax Module class, "
      "instance or a function returning one."
    )
  if not isinstance(model, nn.Module):
    raise ValueError(
      f"{path} returned {type(model).__name__}, not a flax Module."
    )
  return model
