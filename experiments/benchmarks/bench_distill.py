"""Seconds per training epoch: labels vs offline KD vs online KD, one process.

  # Trains a quick teacher first:
  python experiments/benchmarks/bench_distill.py
  python experiments/benchmarks/bench_distill.py \
      --teacher_workdir=runs/teacher_quick --rounds=5
  # Seconds: a smoke run.
  python experiments/benchmarks/bench_distill.py \
      --teacher_config=tiny,epochs=2 --student=mlp16 --rounds=1 --batch_size=32

The same student (LeNet-5 by default) trains on the same examples in all three
modes, with the loop's own pieces: `train_batches` + `shard_batch`, the jitted
label step or `jit_distill_step`, the teacher restored through
`kd_ntk.train.runs.restore_variables` (no cache). Online epochs restore the next
teacher checkpoint inside the timed epoch (a real online run reads each
checkpoint once). Every step is compiled before timing; modes are
interleaved round by round so background load hits all of them alike.
Prints one JSON line per measurement, then the ratios (online/offline target
<= 1.05) and the distill step's compile count.
"""

import json
import resource
import statistics
import tempfile
import time

import jax
import numpy as np
from absl import app, flags, logging

from kd_ntk.configs import teacher as teacher_config
from kd_ntk.data import data_mesh, shard_batch, train_batches
from kd_ntk.distill.steps import jit_distill_step, scalar
from kd_ntk.models import get_model
from kd_ntk.train import loop as train_loop, runs
from kd_ntk.train.from_config import splits_from_config
from kd_ntk.train.state import create_state, make_optimizer, replicate
from kd_ntk.train.steps import train_step

_TEACHER = flags.DEFINE_string(
  "teacher_workdir", "", "Teacher run ('' = train --teacher_config first)."
)
_TEACHER_CONFIG = flags.DEFINE_string(
  "teacher_config",
  "quick,epochs=4",
  "teacher.py argument of the teacher trained first.",
)
_STUDENT = flags.DEFINE_string("student", "lenet5", "Student model preset.")
_ROUNDS = flags.DEFINE_integer(
  "rounds", 8, "Timed epochs per mode (interleaved)."
)
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size.")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if _TEACHER.value:
    _bench(_TEACHER.value)
    return
  # A teacher trained for this run only, removed at the end.
  with tempfile.TemporaryDirectory(prefix="bench_teacher_") as teacher_dir:
    train_loop.run(
      teacher_config.get_config(_TEACHER_CONFIG.value), teacher_dir
    )
    _bench(teacher_dir)


def _bench(teacher_dir: str) -> None:
  """Times label, offline and online epochs of the student against the
  teacher run in `teacher_dir` and prints the JSON lines."""
  tconfig, teacher_model = runs.load_run(teacher_dir)
  # The teacher's examples (4096 for quick).
  splits = splits_from_config(tconfig)
  mesh = data_mesh()
  n, shape = len(splits.train_labels), splits.info.image_shape
  steps = n // _BATCH.value
  model = get_model(_STUDENT.value, splits.info.num_classes)
  tx = make_optimizer(teacher_config.get_config("").optimizer, steps, 100)
  init = replicate(
    jax.jit(create_state, static_argnums=(0, 1, 3))(
      model, tx, jax.random.PRNGKey(0), shape
    ),
    mesh,
  )
  label_step = jax.jit(
    lambda s, x, y, r: train_step(s, x, y, r, model=model, tx=tx),
    donate_argnums=0,
  )
  kd_step = jit_distill_step(model=model, teacher_model=teacher_model, tx=tx)
  checkpoints = runs.saved_epochs(teacher_dir)[1:]
  final = checkpoints[-1]
  rng, weights, tau, alpha = (
    jax.random.PRNGKey(1),
    np.ones(1, np.float32),
    scalar(4.0),
    scalar(0.0),
  )
  offline_teacher = runs.restore_variables(
    teacher_dir, final, input_shape=shape, mesh=mesh
  )

  def epoch(state, mode, index):
    start = time.time()
    if mode == "labels":
      teacher = None
    elif mode == "offline":
      teacher = offline_teacher
    else:
      # Reading the checkpoint is part of the epoch, as in a real online run.
      teacher = runs.restore_variables(
        teacher_dir,
        checkpoints[index % len(checkpoints)],
        input_shape=shape,
        mesh=mesh,
      )
    for images, labels in train_batches(
      splits.train_images,
      splits.train_labels,
      _BATCH.value,
      seed=0,
      epoch=index,
    ):
      batch = shard_batch(mesh, images, labels)
      if teacher is None:
        state, _ = label_step(state, *batch, rng)
      else:
        state, _ = kd_step(state, *batch, rng, (teacher,), weights, tau, alpha)
    jax.block_until_ready(state)
    return state, time.time() - start

  modes = ("labels", "offline", "online")
  states = {m: jax.tree_util.tree_map(lambda x: x.copy(), init) for m in modes}
  for m in modes:  # Warm-up epoch: compiles every step and fills the caches.
    states[m], _ = epoch(states[m], m, 0)
  times = {m: [] for m in modes}
  for r in range(1, _ROUNDS.value + 1):
    for m in (
      modes if r % 2 else modes[::-1]
    ):  # Alternate the order round by round.
      states[m], seconds = epoch(states[m], m, r)
      times[m].append(seconds)
  peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  common = dict(
    student=_STUDENT.value,
    teacher=tconfig.model,
    n=n,
    batch_size=_BATCH.value,
    steps_per_epoch=steps,
    devices=mesh.devices.size,
  )
  for m in modes:
    print(
      json.dumps(
        {
          "what": "epoch_seconds",
          "mode": m,
          **common,
          "seconds_median": round(statistics.median(times[m]), 4),
          "seconds_all": [round(t, 4) for t in times[m]],
          "peak_rss_mb": round(peak_mb, 1),
        }
      ),
      flush=True,
    )
  med = {m: statistics.median(times[m]) for m in modes}
  for name, num, den, target in (
    ("online/offline", "online", "offline", 1.05),
    ("offline/labels", "offline", "labels", None),
  ):
    ratio = med[num] / med[den]
    print(
      json.dumps(
        {
          "what": "ratio",
          "name": name,
          "ratio": round(ratio, 4),
          "target": target,
          "ok": None if target is None else ratio <= target,
        }
      )
    )
  restore_times = []
  for (
    epoch
  ) in checkpoints:  # What an online epoch pays once for its new teacher.
    start = time.time()
    jax.block_until_ready(
      runs.restore_variables(teacher_dir, epoch, input_shape=shape, mesh=mesh)
    )
    restore_times.append(time.time() - start)
  print(
    json.dumps(
      {
        "what": "teacher_restore_seconds",
        "teacher": tconfig.model,
        "seconds_median": round(statistics.median(restore_times), 4),
      }
    )
  )
  print(
    json.dumps(
      {
        "what": "compiles",
        "distill_step_cache_size": kd_step._cache_size(),
        "teacher_checkpoints_used": len(checkpoints),
      }
    )
  )


if __name__ == "__main__":
  app.run(main)
