"""A plain CNN family with early pooling: the fast CPU teacher.

Pooling after the first convolution quarters the spatial work of every later
layer, which is what makes a >92% Fashion-MNIST teacher train in minutes on two
CPU cores.
"""

from collections.abc import Sequence

import flax.linen as nn

from kd_ntk.models.pooling import max_pool


class PlainCNN(nn.Module):
  """Stages of 3x3 convolutions, each stage followed by 2x2 max pooling
  (in train mode the form with a fast CPU backward pass wherever the windows
  tile the input, `kd_ntk.models.pooling`; same values and derivatives).

  Attributes:
    num_classes: number of output logits C.
    channels: output channels of each stage, e.g. (32, 64, 128).
    convs_per_stage: 3x3 convolutions in every stage.
    hidden: width of the dense layer before the logits (0 for none).
    use_batchnorm: BatchNorm after every convolution.
    dropout: dropout rate before the dense layers (train mode only).
  """

  num_classes: int
  channels: Sequence[int] = (32, 64, 128)
  convs_per_stage: int = 1
  hidden: int = 256
  use_batchnorm: bool = True
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = x
    for stage, width in enumerate(self.channels):
      for conv in range(self.convs_per_stage):
        h = nn.Conv(
          width,
          (3, 3),
          padding="SAME",
          use_bias=not self.use_batchnorm,
          name=f"conv{stage}_{conv}",
        )(h)
        if self.use_batchnorm:
          h = nn.BatchNorm(
            use_running_average=not train,
            momentum=0.9,
            name=f"bn{stage}_{conv}",
          )(h)
        h = nn.relu(h)
      h = max_pool(h, (2, 2), "SAME", for_training=train)
    h = h.reshape((h.shape[0], -1))
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    if self.hidden:
      h = nn.relu(nn.Dense(self.hidden, name="hidden")(h))
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(self.num_classes, name="logits")(h)
