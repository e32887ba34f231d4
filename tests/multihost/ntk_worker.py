"""One process of the multi-process NTK test: the empirical NTK Gram of a tiny MLP,
its block pairs spread over the devices of both processes; writes OUT/ntk_<i>.npz.

KD_NTK_TEST_DELAY=S makes process 1 start its share S seconds late.
"""

import os
import time

import jax.numpy as jnp
import numpy as np
from absl import app, flags

from kd_ntk import data, distributed
from kd_ntk.ntk import empirical_ntk
from kd_ntk.train.state import replicate

FLAGS = flags.FLAGS


def problem():
  """(f, params, x1, x2): a 2-layer tanh MLP and inputs, the same in every process."""
  rng = np.random.default_rng(0)
  params = {
    "w1": rng.normal(size=(5, 7)).astype(np.float32) / 2,
    "w2": rng.normal(size=(7, 3)).astype(np.float32) / 2,
  }
  f = lambda p, x: jnp.tanh(x @ p["w1"]) @ p["w2"]
  return (
    f,
    params,
    rng.normal(size=(21, 5)).astype(np.float32),
    rng.normal(size=(10, 5)).astype(np.float32),
  )


def main(argv):
  del argv
  info = distributed.initialize_from_flags()
  f, params, x1, x2 = problem()
  params = replicate(
    params, data.data_mesh()
  )  # As restored in a multi-process run.
  if info.index == 1:
    time.sleep(float(os.environ.get("KD_NTK_TEST_DELAY", "0")))
  gram = empirical_ntk(
    f, params, x1, block_size=4, method="jacobian", dtype=jnp.float64
  )
  cross = empirical_ntk(
    f, params, x1, x2, block_size=4, output="full", method="jacobian"
  )
  np.savez(
    os.path.join(FLAGS.out, f"ntk_{info.index}.npz"), gram=gram, cross=cross
  )


if __name__ == "__main__":
  flags.DEFINE_string(
    "out", None, "Output folder."
  )  # Here: tests import this module.
  app.run(main)
