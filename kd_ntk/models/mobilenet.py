"""MobileNet-V3 (Small layout, Howard et al., 2019) with a width multiplier.

The paper pairs a wide MobileNet-V3 teacher with a narrow one as student; here
the width multiplier scales every channel count (rounded to a multiple of 8).
For 32x32 inputs the stem and the first block keep stride 1 (`small_input`),
otherwise the network would reduce CIFAR images to 1x1 too early.
"""

import flax.linen as nn
import jax.numpy as jnp

# (kernel, expanded channels, output channels, squeeze-excite, hard-swish,
# stride)
SMALL_BLOCKS = (
  (3, 16, 16, True, False, 2),
  (3, 72, 24, False, False, 2),
  (3, 88, 24, False, False, 1),
  (5, 96, 40, True, True, 2),
  (5, 240, 40, True, True, 1),
  (5, 240, 40, True, True, 1),
  (5, 120, 48, True, True, 1),
  (5, 144, 48, True, True, 1),
  (5, 288, 96, True, True, 2),
  (5, 576, 96, True, True, 1),
  (5, 576, 96, True, True, 1),
)


def scaled_channels(channels: int, multiplier: float, divisor: int = 8) -> int:
  """Channels times the multiplier, rounded to a multiple of `divisor` (>=)."""
  return max(
    divisor, int(channels * multiplier + divisor / 2) // divisor * divisor
  )


class SqueezeExcite(nn.Module):
  """Channel gating: global pool, bottleneck, hard-sigmoid scale."""

  reduction: int = 4

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    s = jnp.mean(x, axis=(1, 2), keepdims=True)
    s = nn.relu(
      nn.Conv(scaled_channels(channels / self.reduction, 1.0), (1, 1))(s)
    )
    s = nn.hard_sigmoid(nn.Conv(channels, (1, 1))(s))
    return x * s


class InvertedResidual(nn.Module):
  """Expand (1x1), depthwise (kxk), SE?, project (1x1), residual if it fits."""

  kernel: int
  expanded: int
  out: int
  use_se: bool
  hard_swish: bool
  stride: int

  @nn.compact
  def __call__(self, x, train: bool):
    act = nn.hard_swish if self.hard_swish else nn.relu
    bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9)
    h = x
    if self.expanded != x.shape[-1]:
      h = act(bn()(nn.Conv(self.expanded, (1, 1), use_bias=False)(h)))
    h = nn.Conv(
      self.expanded,
      (self.kernel, self.kernel),
      (self.stride, self.stride),
      padding="SAME",
      feature_group_count=self.expanded,
      use_bias=False,
    )(h)
    h = act(bn()(h))
    if self.use_se:
      h = SqueezeExcite()(h)
    h = bn()(nn.Conv(self.out, (1, 1), use_bias=False)(h))
    if self.stride == 1 and x.shape[-1] == self.out:
      h = h + x
    return h


class MobileNetV3Small(nn.Module):
  """MobileNet-V3 Small with a width multiplier.

  Attributes:
    num_classes: number of output logits C.
    width_multiplier: scales all channel counts (e.g. 0.35 narrow, 2.0 wide).
    small_input: keep stride 1 in the stem and first block (CIFAR-sized inputs).
  """

  num_classes: int
  width_multiplier: float = 1.0
  small_input: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    m = self.width_multiplier
    stem_stride = 1 if self.small_input else 2
    h = nn.Conv(
      scaled_channels(16, m),
      (3, 3),
      (stem_stride, stem_stride),
      padding="SAME",
      use_bias=False,
      name="stem",
    )(x)
    h = nn.hard_swish(
      nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
    )
    for i, (k, exp, out, se, hs, stride) in enumerate(SMALL_BLOCKS):
      if i == 0 and self.small_input:
        stride = 1
      h = InvertedResidual(
        k,
        scaled_channels(exp, m),
        scaled_channels(out, m),
        se,
        hs,
        stride,
        name=f"block{i}",
      )(h, train)
    h = nn.Conv(
      scaled_channels(576, m), (1, 1), use_bias=False, name="head_conv"
    )(h)
    h = nn.hard_swish(
      nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
    )
    h = jnp.mean(h, axis=(1, 2))
    h = nn.hard_swish(nn.Dense(1024, name="head_dense")(h))
    return nn.Dense(self.num_classes, name="logits")(h)
