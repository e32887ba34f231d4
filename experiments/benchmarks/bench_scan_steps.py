"""Seconds per training step of one student: a Python loop over the jitted step
(as `kd_ntk.train.epoch.train_pass` runs it) vs k steps per call under one
jitted `jax.lax.scan` over pre-stacked batches.

  python experiments/benchmarks/bench_scan_steps.py      # w2, k = 4, 8, 16, 32
  python experiments/benchmarks/bench_scan_steps.py --modes=labels --ks=8

The quick regime's epoch is 32 steps of 128 images; the student is the quick
reproduction's width-w CNN (seed_cases.py), distilled from the quick teacher's
architecture at τ=4 or trained on labels. Both forms start from numpy batches
(the pipeline's output) and keep the epoch's metric sums on device:

  loop   per step: device_put the batch, step (state donated), add metrics;
  scan   per k steps: stack k batches, one device_put, one call of
         jit(scan(step + metric sums)) over them (state donated).

Every round times each form once over --steps steps (k dividing it), in
alternating order, after a compiling call; the forms' final parameters and
metric sums are compared (`bit_identical`: every leaf equal). One JSON line
per (mode, k): median seconds per step of each form over the rounds, the
ratio loop/scan per round and its median (above 1: the scan is faster), the
load average (`uptime`) and the machine.
"""

import json
import os
import subprocess
import sys
import time

import jax
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_machine
import seed_cases

_WIDTH = flags.DEFINE_integer("width", 2, "CNN student width.")
_MODES = flags.DEFINE_list("modes", ["distill", "labels"], "distill, labels.")
_KS = flags.DEFINE_list("ks", ["4", "8", "16", "32"], "Steps per scan call.")
_STEPS = flags.DEFINE_integer("steps", 32, "Steps per timed run (an epoch).")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Alternating timed runs per form.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Examples per step.")


def _add(sums, metrics):
  if sums is None:
    return dict(metrics)
  return {k: sums[k] + metrics[k] for k in sums}


def _forms(step_fn, shared, k: int):
  """(loop, scan): each `(state, host_batches, rng) -> (state, sums)`."""
  single = jax.jit(step_fn, donate_argnums=0)

  def loop(state, host_batches, rng):
    sums = None
    for images, labels in host_batches:
      state, metrics = single(
        state, jax.device_put(images), jax.device_put(labels), rng, *shared
      )
      sums = _add(sums, metrics)
    return state, sums

  def k_steps(carry, images_K, labels_K, rng, *shared):
    def body(carry, batch):
      state, sums = carry
      state, metrics = step_fn(state, *batch, rng, *shared)
      return (state, {n: sums[n] + metrics[n] for n in sums}), None

    carry, _ = jax.lax.scan(body, carry, (images_K, labels_K))
    return carry

  scanned = jax.jit(k_steps, donate_argnums=0)

  def scan(state, host_batches, rng):
    sums = None
    for start in range(0, len(host_batches), k):
      chunk = host_batches[start : start + k]
      images = jax.device_put(np.stack([x for x, _ in chunk]))
      labels = jax.device_put(np.stack([y for _, y in chunk]))
      if sums is None:  # The metric names and dtypes of one step, zeroed.
        shapes = jax.eval_shape(
          step_fn, state, images[0], labels[0], rng, *shared
        )
        sums = jax.tree_util.tree_map(
          lambda s: np.zeros(s.shape, s.dtype), shapes[1]
        )
      state, sums = scanned((state, sums), images, labels, rng, *shared)
    return state, sums

  return loop, scan


def _copy(state):
  return jax.tree_util.tree_map(np.array, state)


def _measure(mode: str, k: int) -> dict:
  step_fn, states, batches, shared = seed_cases.case(
    width=_WIDTH.value, mode=mode, count=1, batch=_BATCH.value
  )
  rng = batches[0][2]
  data_rng = np.random.default_rng(1)
  host = [
    (
      data_rng.normal(size=(_BATCH.value, 28, 28, 1)).astype(np.float32),
      data_rng.integers(0, 10, _BATCH.value).astype(np.int32),
    )
    for _ in range(_STEPS.value)
  ]
  forms = dict(zip(("loop", "scan"), _forms(step_fn, shared, k)))
  initial = _copy(states[0])
  finals, times = {}, {name: [] for name in forms}
  for name, form in forms.items():  # Compiles; keeps the results to compare.
    finals[name] = jax.device_get(form(_copy(initial), host, rng))
  for r in range(_ROUNDS.value):
    order = list(forms) if r % 2 == 0 else list(forms)[::-1]
    for name in order:
      state = jax.block_until_ready(jax.device_put(_copy(initial)))
      start = time.perf_counter()
      jax.block_until_ready(forms[name](state, host, rng))
      times[name].append((time.perf_counter() - start) / _STEPS.value)
  leaves = [jax.tree_util.tree_leaves(finals[n]) for n in forms]
  identical = all(np.array_equal(a, b) for a, b in zip(*leaves))
  worst = max(
    float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
    for a, b in zip(*leaves)
  )
  ratios = [a / b for a, b in zip(times["loop"], times["scan"])]
  return {
    "loop_seconds_per_step": round(float(np.median(times["loop"])), 6),
    "scan_seconds_per_step": round(float(np.median(times["scan"])), 6),
    "loop_over_scan": [round(x, 3) for x in ratios],
    "loop_over_scan_median": round(float(np.median(ratios)), 3),
    "bit_identical": identical,
    "max_abs_difference": worst,
  }


def main(argv):
  del argv
  for mode in _MODES.value:
    for k in (int(v) for v in _KS.value):
      if _STEPS.value % k:
        raise ValueError(f"--steps={_STEPS.value} is not a multiple of k={k}.")
      uptime = subprocess.run(
        ["uptime"], capture_output=True, text=True, check=True
      ).stdout
      line = {"what": "scan_steps", "width": _WIDTH.value, "mode": mode}
      line.update(k=k, steps=_STEPS.value, batch_size=_BATCH.value)
      line.update(_measure(mode, k))
      line.update(
        load_avg_at_start=uptime.split("load average:")[-1].strip(),
        load_avg_1min=round(os.getloadavg()[0], 2),
        **bench_machine.machine_fields(),
      )
      print(json.dumps(line), flush=True)


if __name__ == "__main__":
  app.run(main)
