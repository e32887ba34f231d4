"""Fully connected networks (the smallest students of the pilot)."""

import flax.linen as nn


class MLP(nn.Module):
  """A ReLU multilayer perceptron on flattened images.

  Attributes:
    num_classes: number of output logits C.
    width: units in every hidden layer.
    depth: number of hidden layers (depth=1 is the pilot's one-hidden-layer
      MLP).
  """

  num_classes: int
  width: int = 128
  depth: int = 1

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # No BatchNorm or dropout: the same function in both modes.
    h = x.reshape((x.shape[0], -1))
    for layer in range(self.depth):
      h = nn.relu(nn.Dense(self.width, name=f"hidden_{layer}")(h))
    return nn.Dense(self.num_classes, name="logits")(h)
