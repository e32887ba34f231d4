"""The CIFAR ResNet family of depth 6n+2 (He et al., 2016): ResNet-8/20/56/110.

Three stages of n basic blocks with 16, 32 and 64 channels (times a width
multiplier); stride-2 downsampling at the start of stages 2 and 3 with a 1x1
projection shortcut. `norm="batch"` is the standard network; `norm="none"` is a
normalisation-free variant whose residual branches are scaled by a learnable
scalar initialised at zero (SkipInit, De & Smith, 2020), so that the network
trains without BatchNorm and its NTK is a plain function of the parameters.
"""

import flax.linen as nn
import jax.numpy as jnp


def blocks_per_stage(depth: int) -> int:
  """n for a ResNet of depth 6n+2; raises for depths outside the family."""
  if depth < 8 or (depth - 2) % 6:
    raise ValueError(
      f"CIFAR ResNet depth must be 6n+2 with n >= 1 (8, 20, 56, "
      f"110, ...); got {depth}."
    )
  return (depth - 2) // 6


class _Norm(nn.Module):
  """BatchNorm, or the identity for the normalisation-free variant."""

  kind: str

  @nn.compact
  def __call__(self, x, train: bool):
    if self.kind == "batch":
      return nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
    return x


class BasicBlock(nn.Module):
  """Two 3x3 convolutions plus a shortcut (projected if the shape changes)."""

  channels: int
  stride: int
  norm: str

  @nn.compact
  def __call__(self, x, train: bool):
    use_bias = self.norm != "batch"
    h = nn.Conv(
      self.channels,
      (3, 3),
      (self.stride, self.stride),
      padding="SAME",
      use_bias=use_bias,
    )(x)
    h = nn.relu(_Norm(self.norm)(h, train))
    h = nn.Conv(self.channels, (3, 3), padding="SAME", use_bias=use_bias)(h)
    h = _Norm(self.norm)(h, train)
    if self.norm == "none":
      h = h * self.param("skip_gain", nn.initializers.zeros, ())
    shortcut = x
    if x.shape[-1] != self.channels or self.stride != 1:
      shortcut = nn.Conv(
        self.channels,
        (1, 1),
        (self.stride, self.stride),
        use_bias=use_bias,
        name="projection",
      )(x)
      shortcut = _Norm(self.norm)(shortcut, train)
    return nn.relu(h + shortcut)


class CifarResNet(nn.Module):
  """ResNet-(6n+2) for 32x32 (or 28x28) images.

  Attributes:
    num_classes: number of output logits C.
    depth: 8, 20, 32, 44, 56, 110, ... (6n+2).
    width_multiplier: multiplies the 16/32/64 stage widths.
    norm: "batch" (standard) or "none" (SkipInit, no BatchNorm).
  """

  num_classes: int
  depth: int = 20
  width_multiplier: int = 1
  norm: str = "batch"

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.norm not in ("batch", "none"):
      raise ValueError(f"norm must be 'batch' or 'none'; got {self.norm!r}.")
    n = blocks_per_stage(self.depth)
    widths = [16 * self.width_multiplier * 2**s for s in range(3)]
    h = nn.Conv(
      widths[0],
      (3, 3),
      padding="SAME",
      use_bias=self.norm != "batch",
      name="stem",
    )(x)
    h = nn.relu(_Norm(self.norm)(h, train))
    for stage, width in enumerate(widths):
      for block in range(n):
        stride = 2 if stage > 0 and block == 0 else 1
        h = BasicBlock(
          width, stride, self.norm, name=f"stage{stage}_block{block}"
        )(h, train)
    h = jnp.mean(h, axis=(1, 2))
    return nn.Dense(self.num_classes, name="logits")(h)
