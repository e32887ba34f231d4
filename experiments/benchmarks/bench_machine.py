"""What the benchmarks measure the machine and their inputs with.

`rss_gb` (resident memory now), `timed_first_call` (time, CPU time and peak
memory of one call), `run_worker` (one measurement in a subprocess, its JSON
record back), `matmul_peak_gflops` (the machine's float32 matmul rate in this
process: the denominator of a benchmark's fraction of peak), `StealMeter` (the
share of CPU time the hypervisor gave to other guests while a measurement ran),
`machine_fields` (which CPU ran it) and `ntk_inputs` (Fashion-MNIST images,
or random inputs of any shape).
Imported by the `experiments/benchmarks/bench_*.py` scripts from their own
folder.
"""

import json
import os
import re
import resource
import subprocess
import time

import numpy as np

# Runtime log lines (absl "I0000 ...", TensorFlow's banners): not an error.
_LOG_LINE = re.compile(r"[IWE]\d{4} |WARNING: All log")


def rss_gb() -> float:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def timed_first_call(run, record: dict):
  """Calls `run()` once (compilation included) and returns its result, adding
  to `record`: seconds (wall), cpu_seconds (all threads: steadier than wall
  time on a shared machine), peak_rss_gb (the process's peak resident memory,
  which sees XLA's buffers), peak_delta_gb (minus the resident memory before),
  finite (every value of the result) and load_avg_1min."""
  rss_before = rss_gb()
  cpu_before = time.process_time()
  start = time.perf_counter()
  result = run()
  record["seconds"] = round(time.perf_counter() - start, 3)
  record["cpu_seconds"] = round(time.process_time() - cpu_before, 3)
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  record.update(
    peak_rss_gb=round(peak, 3),
    peak_delta_gb=round(peak - rss_before, 3),
    finite=bool(np.all(np.isfinite(result))),
    load_avg_1min=round(os.getloadavg()[0], 2),
  )
  return result


def run_worker(cmd, base: dict, timeout: float, env=None) -> dict:
  """Runs one measurement's subprocess (`cmd`, from the repository root) and
  returns the last JSON line it printed with status "ok"; else `base` with
  status "timeout" or "error" and a note (the last lines of its output that
  are not runtime logs)."""
  # experiments/benchmarks/ -> the repository root.
  root = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  )
  env = dict(os.environ if env is None else env)
  env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
  try:
    proc = subprocess.run(
      cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=root
    )
  except subprocess.TimeoutExpired:
    return dict(
      base, status="timeout", seconds=None, note=f"killed after {timeout} s"
    )
  lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
  if proc.returncode != 0 or not lines:
    log = (proc.stderr or proc.stdout).strip().splitlines()
    tail = [l for l in log if not _LOG_LINE.match(l)][-3:]
    return dict(
      base, status="error", seconds=None, note=" | ".join(tail)[-400:]
    )
  return dict(json.loads(lines[-1]), status="ok")


def _cpu_times():
  """The machine's aggregate CPU times (/proc/stat's first line), or None."""
  try:
    with open("/proc/stat") as f:
      return [int(v) for v in f.readline().split()[1:]]
  except (OSError, ValueError):
    return None


class StealMeter:
  """Steal time between `start()` and `fraction()`: the share of all CPU
  time in which the hypervisor ran other guests on this VM's vCPUs
  (/proc/stat's 8th field over the sum of all fields; None off Linux).

  On a shared VM this is what moves a benchmark from run to run: a step
  that hands work between threads stalls whenever a vCPU is taken away.
  """

  def __init__(self):
    self._start = None

  def start(self) -> "StealMeter":
    self._start = _cpu_times()
    return self

  def fraction(self):
    end = _cpu_times()
    if self._start is None or end is None or len(end) < 8:
      return None
    delta = [b - a for a, b in zip(self._start, end)]
    total = sum(delta)
    return round(delta[7] / total, 4) if total > 0 else None


def machine_fields() -> dict:
  """cpu_model (/proc/cpuinfo's first "model name"; None where there is none)
  and cpus (os.cpu_count()): ratios against an in-process peak differ between
  VMs whose short matmul bursts and sustained rates differ, so each line says
  which machine ran it."""
  model = None
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  return dict(cpu_model=model, cpus=os.cpu_count())


def ntk_inputs(n: int, seed: int, shape) -> tuple:
  """(inputs, source): Fashion-MNIST for 28x28x1 if installed, else random."""
  if tuple(shape) == (28, 28, 1):
    try:
      return _fashion_mnist(n, seed), "fashion_mnist"
    except Exception:  # pylint: disable=broad-except
      pass
  rng = np.random.default_rng(seed)
  return rng.standard_normal((n,) + tuple(shape)).astype(
    np.float32
  ), "random_normal"


def matmul_peak_gflops(size: int = 4096, repeats: int = 4) -> float:
  """Best float32 matmul rate of this process (GFLOP/s), a 2·size³ product."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  a = jnp.asarray(
    np.random.default_rng(0).standard_normal((size, size), np.float32)
  )
  mm = jax.jit(lambda u, v: u @ v)
  mm(a, a).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    mm(a, a).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2.0 * size**3 / best / 1e9


def _fashion_mnist(n: int, seed: int) -> np.ndarray:
  """n training images scaled to [0, 1] and standardised: (n, 28, 28, 1) f32."""
  from kd_ntk.data import load  # pylint: disable=g-import-not-at-top

  images, _, _ = load("fashion_mnist", "train")
  # Statistics from 10k images: a float64 copy of all 60k would be a setup peak.
  ref = images[:10000].astype(np.float32) / 255.0
  mean, std = ref.mean(), ref.std()
  pick = np.random.default_rng(seed).choice(
    len(images), size=n, replace=n > len(images)
  )
  return ((images[pick].astype(np.float32) / 255.0 - mean) / std).reshape(
    n, 28, 28, 1
  )
