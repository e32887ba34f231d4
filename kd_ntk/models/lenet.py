"""LeNet-5 with a channel width multiplier (LeNet-5x8 has 8x the channels)."""

import flax.linen as nn

from kd_ntk.models import conv_grad
from kd_ntk.models.pooling import max_pool


class LeNet5(nn.Module):
  """LeNet-5: two 5x5 convolutions with max pooling, then 120-84-C dense layers.

  Unpadded ("VALID") convolutions, so 28x28 inputs give a 4x4x16 feature map
  (about 44k parameters at width 1); ReLU replaces the original sigmoid.
  In train mode the pools take the form with a fast CPU backward pass
  (`kd_ntk.models.pooling`; same values and derivatives), and on the CPU
  conv1 (one input channel) takes a faster filter gradient and conv2 (6 → 16
  channels) a faster input gradient (`kd_ntk.models.conv_grad`; the same
  sums in another order).

  Attributes:
    num_classes: number of output logits C.
    width_multiplier: multiplies the convolution channels (6 and 16); the
      paper's "LeNet-5x8" student is `width_multiplier=8`.
  """

  num_classes: int
  width_multiplier: int = 1

  @nn.compact
  def __call__(self, x, train: bool = False):
    m = self.width_multiplier
    conv = conv_grad.conv_general_dilated if train else None  # None: lax's
    h = nn.Conv(
      6 * m, (5, 5), padding="VALID", conv_general_dilated=conv, name="conv1"
    )(x)
    h = max_pool(nn.relu(h), (2, 2), for_training=train)
    h = nn.Conv(
      16 * m, (5, 5), padding="VALID", conv_general_dilated=conv, name="conv2"
    )(h)
    h = nn.relu(h)
    h = max_pool(h, (2, 2), for_training=train)
    h = h.reshape((h.shape[0], -1))
    h = nn.relu(nn.Dense(120, name="fc1")(h))
    h = nn.relu(nn.Dense(84, name="fc2")(h))
    return nn.Dense(self.num_classes, name="logits")(h)
