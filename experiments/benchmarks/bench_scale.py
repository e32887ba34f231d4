"""Overhead of the multi-process runtime: teacher-step images/s of 1 process x 4
devices (the reference) against 2 processes x 2 devices, on this machine's CPU.

  # cnn teacher, batch 128:
  python experiments/benchmarks/bench_scale.py
  python experiments/benchmarks/bench_scale.py --model=lenet5 --repeats=3 \
      --steps=40

Both layouts run the training loop's own pieces: each process reads and
augments only its rows of every global batch (`train_batches(rows=...)`),
`shard_process_batch` assembles the global batch, and the jitted `train_step`
runs data-parallel over the 4 devices (gradients all-reduced over gloo between
the processes). The layouts alternate (reference, candidate, reference, ...)
so a change in machine load hits both; one JSON line per run, then a summary
line with the median images/s of each and `ratio` = candidate / reference, and
the CPU seconds all processes spent per 1000 images (`cpu_cost_ratio` =
candidate / reference; less sensitive to other load on the machine than
wall-clock throughput, which a busy scheduler shares out per process).

On an accelerator host (--worker=local) it times the same step over the local
devices of one process and reports images/s per chip.
"""

import functools
import json
import os
import statistics
import tempfile
import time

import numpy as np
from absl import app, flags

import bench_machine  # experiments/benchmarks/, the script's own folder

# Defines --coordinator_address etc.; starts nothing.
from kd_ntk import distributed

_MODEL = flags.DEFINE_string(
  "model", "cnn", "Model preset (the teacher preset: cnn)."
)
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch.")
_STEPS = flags.DEFINE_integer(
  "steps", 30, "Timed steps per run (after 3 warm-up steps)."
)
_REPEATS = flags.DEFINE_integer(
  "repeats", 2, "Runs of each layout (alternating)."
)
_DEVICES = flags.DEFINE_integer(
  "devices", 4, "Devices in total in each layout."
)
_PROCESSES = flags.DEFINE_integer(
  "processes", 2, "Processes of the candidate layout."
)
_WORKER = flags.DEFINE_enum(
  "worker",
  None,
  ["local", "distributed"],
  "Internal: run one measurement in this process.",
)


def measure() -> dict:
  """Images/s of the teacher train step, per-process data, in this process."""
  import jax
  from kd_ntk import data, models
  from kd_ntk.configs import teacher
  from kd_ntk.train import state as state_lib, steps

  info = distributed.process_info()
  mesh = data.data_mesh()
  rng = np.random.default_rng(0)
  n = _BATCH.value * (_STEPS.value + 3)
  images = rng.normal(size=(n, 28, 28, 1)).astype(np.float32)
  labels = rng.integers(0, 10, n).astype(np.int32)
  model = models.get_model(_MODEL.value, 10)
  tx = state_lib.make_optimizer(teacher.get_config("").optimizer, 100, 1)
  state = state_lib.create_state(model, tx, jax.random.PRNGKey(0), (28, 28, 1))
  state = state_lib.replicate(state, mesh)
  step = jax.jit(
    functools.partial(steps.train_step, model=model, tx=tx), donate_argnums=0
  )
  key = jax.random.PRNGKey(0)
  rows = data.process_rows(mesh, _BATCH.value)
  batches = data.train_batches(
    images,
    labels,
    _BATCH.value,
    seed=0,
    epoch=1,
    augment_pad=2,
    augment_flip=True,
    rows=rows,
  )
  for i, (x, y) in enumerate(batches):
    if i == 3:  # Compiled and warm: start the clock.
      jax.block_until_ready(metrics)
      start, cpu_start = time.perf_counter(), time.process_time()
    state, metrics = step(
      state, *data.shard_process_batch(mesh, _BATCH.value, x, y), key
    )
  jax.block_until_ready(metrics)
  seconds = time.perf_counter() - start
  cpu = np.float64(time.process_time() - cpu_start)
  if info.count > 1:  # CPU time of every process.
    from jax.experimental import multihost_utils

    cpu = multihost_utils.process_allgather(cpu).sum()
  rate = _BATCH.value * _STEPS.value / seconds
  return {
    "what": "teacher_step_images_per_second",
    "model": _MODEL.value,
    "batch_size": _BATCH.value,
    "processes": info.count,
    "devices_per_process": info.local_devices,
    "backend": info.platform,
    "images_per_second": round(rate, 1),
    "images_per_second_per_device": round(rate / info.global_devices, 1),
    "cpu_seconds_per_1000_images": round(
      1000 * float(cpu) / (_BATCH.value * _STEPS.value), 3
    ),
    "final_loss": float(metrics["loss"]),
  }


def run_layout(processes: int, devices_per_process: int, logdir: str) -> dict:
  """One measurement as `processes` local processes; the JSON of process 0."""
  from kd_ntk import local_processes

  flags_now = [
    f"--model={_MODEL.value}",
    f"--batch_size={_BATCH.value}",
    f"--steps={_STEPS.value}",
  ]
  script = os.path.abspath(__file__)
  if processes == 1:
    done = local_processes.run_single(
      [script, "--worker=local", *flags_now],
      devices=devices_per_process,
      logdir=logdir,
      timeout=600,
    )
  else:
    done = local_processes.run_processes(
      [script, "--worker=distributed", *flags_now],
      num_processes=processes,
      devices_per_process=devices_per_process,
      logdir=logdir,
      timeout=600,
    )[0]
  return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  if _WORKER.value:
    if _WORKER.value == "distributed":
      distributed.initialize_from_flags()
    result = measure()
    if distributed.is_writer():
      print(json.dumps(result), flush=True)
    return
  if _DEVICES.value % _PROCESSES.value:
    raise SystemExit(
      f"error: --devices={_DEVICES.value} is not divisible by "
      f"--processes={_PROCESSES.value}."
    )
  layouts = {
    "reference": (1, _DEVICES.value),
    "candidate": (_PROCESSES.value, _DEVICES.value // _PROCESSES.value),
  }
  rates = {name: [] for name in layouts}
  costs = {name: [] for name in layouts}
  with tempfile.TemporaryDirectory() as logdir:
    for repeat in range(_REPEATS.value):
      for name, (processes, devices) in layouts.items():
        row = run_layout(
          processes, devices, os.path.join(logdir, f"{name}{repeat}")
        )
        rates[name].append(row["images_per_second"])
        costs[name].append(row["cpu_seconds_per_1000_images"])
        print(json.dumps({"layout": name, "repeat": repeat, **row}), flush=True)
  medians = {name: statistics.median(r) for name, r in rates.items()}
  cost = {name: round(statistics.median(c), 3) for name, c in costs.items()}
  print(
    json.dumps(
      {
        "what": "multiprocess_overhead",
        "model": _MODEL.value,
        "batch_size": _BATCH.value,
        "reference": f"1 process x {_DEVICES.value} devices",
        "candidate": f"{_PROCESSES.value} processes x {_DEVICES.value // _PROCESSES.value} devices",
        "reference_images_per_second": medians["reference"],
        "candidate_images_per_second": medians["candidate"],
        "ratio": round(medians["candidate"] / medians["reference"], 3),
        "reference_cpu_seconds_per_1000_images": cost["reference"],
        "candidate_cpu_seconds_per_1000_images": cost["candidate"],
        "cpu_cost_ratio": round(cost["candidate"] / cost["reference"], 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        **bench_machine.machine_fields(),
      }
    ),
    flush=True,
  )


if __name__ == "__main__":
  app.run(main)
