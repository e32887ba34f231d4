r"""Monte-Carlo NTK of a ReLU MLP against its infinite width: widths x samples.

Writes mc_convergence.csv, mc_convergence.md (the table) and mc_convergence.png
in --workdir; prints the table. Needs no neural-tangents (closed-form kernel).

    python experiments/mc_convergence.py --workdir=runs/mc_convergence
    python experiments/mc_convergence.py --workdir=/tmp/mc --widths=64,256 \
        --samples=1,4 --depth=2 --n=128 --repeats=2

Inputs: n class-balanced Fashion-MNIST training images (standardised); targets:
their one-hot labels. See kd_ntk.experiment.mc_convergence for the definitions.
"""

import numpy as np
from absl import flags

from kd_ntk import cli, complexity
from kd_ntk.data import prepare_splits
from kd_ntk.experiment import mc_convergence

_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_WIDTHS = flags.DEFINE_list("widths", ["64", "256", "1024"], "MLP widths.")
_SAMPLES = flags.DEFINE_list(
  "samples", ["1", "4", "16"], "Monte-Carlo samples."
)
_DEPTH = flags.DEFINE_integer("depth", 1, "Hidden layers of the MLP.")
_N = flags.DEFINE_integer("n", 256, "Training images (class-balanced), >= 2.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Independent draws per cell.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the image subset.")
flags.mark_flags_as_required(["workdir"])


def _run(workdir: str) -> str:
  if _N.value < 2:
    raise ValueError(f"--n must be at least 2; got {_N.value}.")
  widths = [int(v) for v in _WIDTHS.value]
  samples = [int(v) for v in _SAMPLES.value]
  splits = prepare_splits(
    "fashion_mnist", train_subset=_N.value, subset_seed=_SEED.value
  )
  targets = complexity.one_hot(
    np.asarray(splits.train_labels), splits.info.num_classes
  )
  rows = mc_convergence.convergence_rows(
    np.asarray(splits.train_images, np.float32),
    targets,
    widths=widths,
    samples=samples,
    depth=_DEPTH.value,
    repeats=_REPEATS.value,
  )
  return mc_convergence.write(rows, workdir)


def main(argv):
  del argv
  print(cli.run_or_exit(_run, _WORKDIR.value))


if __name__ == "__main__":
  cli.launch(main)
