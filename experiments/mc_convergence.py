r"""Monte-Carlo NTK of a ReLU MLP against its infinite-width limit: widths x samples.

Writes mc_convergence.csv, mc_convergence.md (the table) and mc_convergence.png
in --workdir; prints the table. Needs no neural-tangents (closed-form kernel).

    python experiments/mc_convergence.py --workdir=runs/mc_convergence
    python experiments/mc_convergence.py --workdir=/tmp/mc --widths=64,256 \
        --samples=1,4 --depth=2 --n=128 --repeats=2

Inputs: n class-balanced Fashion-MNIST training images (standardised); targets:
their one-hot labels. See kd_ntk.experiment.mc_convergence for the definitions.
"""

import argparse

import numpy as np

from kd_ntk import complexity
from kd_ntk.experiment import mc_convergence
from kd_ntk.data import prepare_splits


def _ints(text: str):
  return [int(v) for v in text.split(",") if v.strip()]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--widths", type=_ints, default=[64, 256, 1024])
  parser.add_argument("--samples", type=_ints, default=[1, 4, 16])
  parser.add_argument("--depth", type=int, default=1)
  parser.add_argument("--n", type=int, default=256)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  if args.n < 2:
    raise SystemExit(f"error: --n must be at least 2; got {args.n}.")
  splits = prepare_splits(
    "fashion_mnist", train_subset=args.n, subset_seed=args.seed
  )
  targets = complexity.one_hot(
    np.asarray(splits.train_labels), splits.info.num_classes
  )
  try:
    rows = mc_convergence.convergence_rows(
      np.asarray(splits.train_images, np.float32),
      targets,
      widths=args.widths,
      samples=args.samples,
      depth=args.depth,
      repeats=args.repeats,
    )
  except ValueError as err:
    raise SystemExit(f"error: {err}") from None
  print(mc_convergence.write(rows, args.workdir))


if __name__ == "__main__":
  main()
