"""Seconds per training step of S students: per seed, seed-batched, and
seed-sharded over 2 host devices or 2 processes, in one invocation.

  python experiments/benchmarks/bench_seed_shard.py         # w2, S = 2, 4, 8
  python experiments/benchmarks/bench_seed_shard.py --seeds=4 --rounds=2

Layouts, each a fresh subprocess (run one after another, --rounds times):
  1x1  one process, one CPU device (the one-process grid's layout): the
       per-seed step called S times (`single`, the grid's training steps)
       and the unsharded seed-batched step (`batched`);
  1x2  one process, 2 host devices (XLA_FLAGS): the same two forms and the
       seed-sharded step over both devices (`sharded`, S/2 seeds each);
  2x1  two processes of one device each joined by `jax.distributed` on
       localhost: the sharded step (each timed run starts after a barrier;
       the slower process's time counts).
The student is the quick reproduction's width-w CNN on batches of 128 random
28x28 images, taught by the quick teacher's architecture (cnn_tiny, randomly
initialised) at τ=4 (`distill`) or trained on labels (`labels`). Each form is
compiled, then timed as the best of --repeats runs of --steps steps (batches
already on the devices). One JSON line per (round, layout, mode, S, form):
seconds per step of all S seeds, `over_per_seed` = the 1x1 per-seed time of
the same round / this time (above 1: faster), the load average (`uptime`) and
the machine.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from kd_ntk import distributed  # Defines the multi-process flags.

_WIDTH = flags.DEFINE_integer("width", 2, "CNN student width.")
_SEEDS = flags.DEFINE_list("seeds", ["2", "4", "8"], "Seed counts S (even).")
_MODES = flags.DEFINE_list("modes", ["distill", "labels"], "distill, labels.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs per form (best).")
_STEPS = flags.DEFINE_integer("steps", 5, "Steps per timed run.")
_ROUNDS = flags.DEFINE_integer("rounds", 1, "Times every layout is run.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Examples per step and seed.")
_LAYOUT = flags.DEFINE_string("layout", None, "Internal: run as a worker.")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _time(call, state) -> tuple[float, object]:
  """Best seconds per step of `call(state) -> state` (compiled first); every
  process starts each timed run together (a barrier), so none runs alone."""
  import jax

  state = jax.block_until_ready(call(state))
  best = float("inf")
  for i in range(_REPEATS.value):
    distributed.barrier(f"bench_seed_shard.{i}")
    start = time.perf_counter()
    for _ in range(_STEPS.value):
      state = call(state)
    jax.block_until_ready(state)
    best = min(best, (time.perf_counter() - start) / _STEPS.value)
  return best, state


def _measure(layout: str, mesh, mode: str, count: int) -> dict[str, float]:
  """Seconds per step of `count` seeds, by form, in this layout."""
  import jax
  import numpy as np
  import seed_cases

  from kd_ntk.distill import seed_batch, seed_shard

  step, states, batches, shared = seed_cases.case(
    width=_WIDTH.value, mode=mode, count=count, batch=_BATCH.value
  )
  stacked = [np.stack(parts) for parts in zip(*batches)]
  all_states = seed_batch.stack(states)  # Before any step donates them.
  times = {}
  if layout != "2x1":
    single = jax.jit(step, donate_argnums=0)  # As the grid's step.
    times["single"], _ = _time(
      lambda ss: [single(s, *b, *shared)[0] for s, b in zip(ss, batches)],
      states,
    )
    batched = seed_batch.batched_step(step, shared_args=len(shared))
    times["batched"], _ = _time(
      lambda s: batched(s, *stacked, *shared)[0],
      jax.tree_util.tree_map(np.copy, all_states),
    )
  if mesh.size > 1:
    mine = list(seed_shard.process_seeds(count, mesh))
    sharded = seed_shard.sharded_step(step, mesh, shared_args=len(shared))
    placed = seed_shard.place([x[mine] for x in stacked], mesh, count)
    common = seed_shard.replicate_shared(shared, mesh)
    local = jax.tree_util.tree_map(lambda x: np.asarray(x)[mine], all_states)
    times["sharded"], _ = _time(
      lambda s: sharded(s, *placed, *common)[0],
      seed_shard.place(local, mesh, count),
    )
  return times


def _worker(layout: str) -> None:
  sys.path.insert(0, HERE)
  from kd_ntk.distill import seed_shard

  distributed.initialize_from_flags()
  mesh = seed_shard.seed_mesh()
  for mode in _MODES.value:
    for count in (int(s) for s in _SEEDS.value):
      for form, seconds in _measure(layout, mesh, mode, count).items():
        line = {"layout": layout, "mode": mode, "seeds": count}
        print(json.dumps(dict(line, form=form, s=seconds)), flush=True)


def _run_layout(layout: str, argv: list[str]) -> list[dict]:
  from kd_ntk import local_processes

  args = [os.path.abspath(__file__), f"--layout={layout}", *argv]
  if layout == "2x1":
    with tempfile.TemporaryDirectory() as logs:
      outs = local_processes.run_processes(
        args, num_processes=2, devices_per_process=1, logdir=logs, timeout=1800
      )
  else:
    outs = [
      local_processes.run_single(
        args,
        devices=int(layout[-1]),
        logdir=tempfile.gettempdir(),
        timeout=1800,
      )
    ]
  # Per process, one line per measurement in the same order; a step of all
  # seeds takes as long as the slowest process's share.
  per_process = [
    [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    for out in outs
  ]
  return [
    dict(
      lines[0],
      s=max(l["s"] for l in lines),
      processes_s=[l["s"] for l in lines],
    )
    for lines in zip(*per_process)
  ]


def main(argv):
  if _LAYOUT.value:
    return _worker(_LAYOUT.value)
  sys.path.insert(0, HERE)
  import bench_machine

  passed = [a for a in sys.argv[1:] if not a.startswith("--layout")]
  for round_ in range(_ROUNDS.value):
    lines = []
    for layout in ("1x1", "1x2", "2x1"):
      uptime = subprocess.run(
        ["uptime"], capture_output=True, text=True, check=True
      )
      for line in _run_layout(layout, passed):
        lines.append(dict(line, uptime=uptime.stdout.strip()))
    per_seed = {
      (l["mode"], l["seeds"]): l["s"]
      for l in lines
      if (l["layout"], l["form"]) == ("1x1", "single")
    }
    for l in lines:
      base = per_seed[l["mode"], l["seeds"]]
      print(
        json.dumps(
          dict(
            what="seed_sharded_step",
            round=round_,
            layout=l["layout"],
            mode=l["mode"],
            seeds=l["seeds"],
            form=l["form"],
            width=_WIDTH.value,
            batch_size=_BATCH.value,
            seconds_per_step=round(l["s"], 5),
            process_seconds=[round(t, 5) for t in l["processes_s"]],
            students_steps_per_second=round(l["seeds"] / l["s"], 1),
            over_per_seed=round(base / l["s"], 3),
            load_avg_at_start=l["uptime"].split("load average:")[-1].strip(),
            load_avg_1min=round(os.getloadavg()[0], 2),
            **bench_machine.machine_fields(),
          )
        ),
        flush=True,
      )


if __name__ == "__main__":
  app.run(main)
