"""What a run config builds before any training: its data, its model, checks.

Every run records the two facts about its data that reading the run back needs,
`num_classes` (C) and `input_shape` ((H, W, channels) of one image), in its
config.json (`with_data_fields`), so a run is read back from its own files,
never from a table of dataset names.
"""

import dataclasses

import ml_collections

from kd_ntk.data import load, prepare_splits
from kd_ntk.models import get_model

# Fields a run adds to its config from the data it loaded (see
# `with_data_fields`).
SHAPE_FIELDS = ("num_classes", "input_shape")


@dataclasses.dataclass(frozen=True)
class DataShape:
  """What a model needs to know of its data: class count and image shape."""

  num_classes: int
  input_shape: tuple[int, ...]


def splits_from_config(config: ml_collections.ConfigDict, **split_options):
  """The data splits a run config asks for (data errors surface here, first).

  `split_options` go to `prepare_splits` (e.g. validation_size,
  validation_seed)."""
  return prepare_splits(
    config.dataset,
    config.data_dir or None,
    train_subset=config.train_subset,
    subset_seed=config.subset_seed,
    source=config.get("data_source") or None,
    test_subset=config.get("test_subset", 0),
    classes=tuple(config.get("classes", ())),
    **split_options,
  )


def model_from_config(config: ml_collections.ConfigDict, num_classes: int):
  """The model of a run config; JSON lists in `model_kwargs` become tuples."""
  kwargs = config.get("model_kwargs") or {}
  if isinstance(kwargs, ml_collections.ConfigDict):
    kwargs = kwargs.to_dict()
  kwargs = {
    k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()
  }
  return get_model(config.model, num_classes, **kwargs)


def check_batch_size(batch_size: int, mesh, n_train: int) -> None:
  """Raises unless `batch_size` splits over the mesh and fits the train set."""
  devices = mesh.devices.size
  if batch_size % devices:
    raise ValueError(
      f"batch_size={batch_size} must be divisible by the {devices} devices."
    )
  if batch_size > n_train:
    raise ValueError(
      f"batch_size={batch_size} exceeds the {n_train} training examples."
    )


def with_data_fields(
  config: ml_collections.ConfigDict, info
) -> ml_collections.ConfigDict:
  """A copy of `config` with `num_classes` and `input_shape` of the loaded data.

  A config that already names them (one read back from a run's config.json)
  must agree with the data.

  Args:
    config: a run config.
    info: the `DatasetInfo` of the loaded splits.

  Raises:
    ValueError if the config names another class count or input shape.
  """
  shape = DataShape(
    int(info.num_classes), tuple(int(d) for d in info.image_shape)
  )
  stated = (config.get("num_classes"), config.get("input_shape"))
  if stated[0] is not None and (int(stated[0]), tuple(stated[1] or ())) != (
    shape.num_classes,
    shape.input_shape,
  ):
    raise ValueError(
      f"The config states num_classes={stated[0]}, input_shape="
      f"{tuple(stated[1] or ())} but its data has {shape.num_classes} "
      f"classes of shape {shape.input_shape}; remove those two fields."
    )
  config = ml_collections.ConfigDict(config.to_dict())
  config.num_classes = shape.num_classes
  config.input_shape = shape.input_shape
  return config


def data_shape_of(config: ml_collections.ConfigDict) -> DataShape:
  """The class count and input shape a run config.json records.

  Runs written before these fields existed fall back to the class selection
  and one split of the data (the only case that reads data).
  """
  if config.get("num_classes") is not None and config.get("input_shape"):
    return DataShape(
      int(config.num_classes), tuple(int(d) for d in config.input_shape)
    )
  _, _, info = load(
    config.dataset,
    "test",
    config.get("data_dir") or None,
    config.get("data_source") or None,
  )
  classes: tuple | None = tuple(config.get("classes") or ())
  return DataShape(
    len(classes) if classes else info.num_classes, tuple(info.image_shape)
  )
