"""Seconds per step of S students: one after another vs one seed-batched step.

  python experiments/benchmarks/bench_seed_batch.py  # w = 2, 4, 8; S = 2, 4, 8
  python experiments/benchmarks/bench_seed_batch.py --widths=2 --seeds=2,16

The quick reproduction's students (the CNN family at width w, seed_cases.py)
on batches of 128 random 28x28 images, with the quick teacher's architecture
(cnn_tiny, randomly initialised) teaching at τ=4, or on labels (--modes). The
per-seed form is the jitted `distill_step` (`train_step`) called S times; the
batched form
is `kd_ntk.distill.seed_batch.batched_step` on the stacked states
(`seed_batch.measure`: best of --repeats, each form compiled first).
One JSON line per (width, mode, S): both times, batched/single throughput,
the form that was faster, the load average and the machine
(bench_machine.machine_fields).
"""

import json
import os

import bench_machine
import jax
import seed_cases
from absl import app, flags

from kd_ntk.distill import seed_batch

_WIDTHS = flags.DEFINE_list("widths", ["2", "4", "8"], "CNN student widths.")
_SEEDS = flags.DEFINE_list("seeds", ["2", "4", "8"], "Seed counts S.")
_MODES = flags.DEFINE_list("modes", ["distill", "labels"], "distill, labels.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per form (best).")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Examples per step and seed.")


def main(argv):
  del argv
  for width in (int(w) for w in _WIDTHS.value):
    for mode in _MODES.value:
      for count in (int(s) for s in _SEEDS.value):
        step, states, batches, shared = seed_cases.case(
          width=width, mode=mode, count=count, batch=_BATCH.value
        )
        out = seed_batch.measure(
          jax.jit(step),
          seed_batch.batched_step(step, shared_args=len(shared)),
          states,
          batches=batches,
          shared=shared,
          repeats=_REPEATS.value,
        )
        print(
          json.dumps(
            dict(
              what="seed_batched_step",
              width=width,
              mode=mode,
              seeds=count,
              batch_size=_BATCH.value,
              backend=jax.default_backend(),
              single_seconds=round(out["single"], 5),
              batched_seconds=round(out["batched"], 5),
              batched_over_single=round(out["single"] / out["batched"], 3),
              chosen=out["chosen"],
              load_avg_1min=round(os.getloadavg()[0], 2),
              **bench_machine.machine_fields(),
            )
          ),
          flush=True,
        )


if __name__ == "__main__":
  app.run(main)
