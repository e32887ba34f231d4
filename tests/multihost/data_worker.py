"""One process of the multi-process data test (run by tests/test_multiprocess.py).

Each process reads and augments only its rows of every global batch, assembles
global arrays with `shard_process_batch`, checks JAX placed each of its shards
where the single-process pipeline puts those rows, reduces across processes with
a jitted sum and gathers the batches; it writes what it saw to
OUT/process_<i>.npz.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from kd_ntk import data, distributed

FLAGS = flags.FLAGS

BATCH, EVAL_BATCH, SEED, EPOCH = 8, 12, 5, 1


def toy_data():
  images = (
    np.random.default_rng(0).normal(size=(40, 6, 6, 2)).astype(np.float32)
  )
  return images, np.arange(40, dtype=np.int32)


def main(argv):
  del argv
  info = distributed.initialize_from_flags()
  images, labels = toy_data()
  mesh = data.data_mesh()
  rows = data.process_rows(mesh, BATCH)
  reduce = jax.jit(lambda x, y: (x.sum(), (y * jnp.arange(BATCH)).sum()))
  placed_right, sums, gathered = True, [], []
  mine = data.train_batches(
    images,
    labels,
    BATCH,
    seed=SEED,
    epoch=EPOCH,
    augment_pad=2,
    augment_flip=True,
    rows=rows,
  )
  whole = data.train_batches(
    images,
    labels,
    BATCH,
    seed=SEED,
    epoch=EPOCH,
    augment_pad=2,
    augment_flip=True,
  )
  for (x_local, y_local), (x_all, _) in zip(mine, whole):
    x, y = data.shard_process_batch(mesh, BATCH, x_local, y_local)
    for shard in x.addressable_shards:  # JAX's own placement is the oracle.
      placed_right &= bool(
        np.array_equal(np.asarray(shard.data), x_all[shard.index])
      )
    sums.append([float(s) for s in reduce(x, y)])
    gathered.append(data.to_host(x))
  eval_sum = 0.0
  for x_local, y_local, mask_local in data.eval_batches(
    images, labels, EVAL_BATCH, rows=data.process_rows(mesh, EVAL_BATCH)
  ):
    y, mask = data.shard_process_batch(mesh, EVAL_BATCH, y_local, mask_local)
    eval_sum += float(jax.jit(lambda a, m: (a * m).sum())(y, mask))
  (x_global,) = data.shard_batch(
    mesh, images[:BATCH]
  )  # Global arrays, same everywhere.
  distributed.barrier("data_worker_done")
  np.savez(
    os.path.join(FLAGS.out, f"process_{info.index}.npz"),
    rows=np.arange(BATCH)[rows],
    placed_right=placed_right,
    sums=np.asarray(sums),
    gathered=np.stack(gathered),
    eval_sum=eval_sum,
    shard_batch=data.to_host(x_global),
    writer=distributed.is_writer(),
    layout=[info.index, info.count, info.local_devices, info.global_devices],
  )


if __name__ == "__main__":
  flags.DEFINE_string(
    "out", None, "Output folder."
  )  # Here: tests import this module.
  app.run(main)
