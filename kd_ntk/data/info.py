"""What kd_ntk knows about a dataset, whichever source read it (IDX files or
TFDS); its own module so that both sources import it without importing each
other."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the rest of kd_ntk needs to know about a dataset.

  Attributes:
    name: dataset name ("fashion_mnist", "cifar10", ...).
    num_classes: number of classes C.
    image_shape: (H, W, channels) of one image.
    class_names: human-readable class names (may be empty).
    source: "idx" or "tfds"; where the arrays came from.
    location: the folder the data was read from.
  """

  name: str
  num_classes: int
  image_shape: tuple[int, int, int]
  class_names: tuple[str, ...] = ()
  source: str = "idx"
  location: str = ""
