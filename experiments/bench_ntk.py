r"""Benchmark: a student's trace-NTK Gram matrix (LeNet-5 on Fashion-MNIST by default).

Times kd_ntk's own methods against neural-tangents' implementations (nt:jc
Jacobian contraction, nt:sd structured derivatives, nt:ntvp NTK-vector
products; "nt best" is the fastest that finished) on the same inputs and
parameters, each measurement in its own subprocess so that its
peak memory (ru_maxrss, which sees XLA's buffers) is its own. Prints one JSON
line per measurement and one "summary" line per n with own-best / nt-best.

    .venv/bin/python experiments/bench_ntk.py                       # full run
    .venv/bin/python experiments/bench_ntk.py --n=256 --methods=own:structured,nt:jc
    .venv/bin/python experiments/bench_ntk.py --n=10000 --methods=own:structured
    .venv/bin/python experiments/bench_ntk.py --model=lenet5x8 --n=1024 --methods=nt:jc,own:structured
    .venv/bin/python experiments/bench_ntk.py --model=resnet20 --input_shape=32,32,3 --n=512

Any preset of `kd_ntk.models` runs (`--model`); inputs are Fashion-MNIST
images when `--input_shape` is 28,28,1 and the data set is installed, else
standard-normal random inputs of that shape (as for CIFAR here). BatchNorm
statistics are closed over (`kd_ntk.models.inference_fn`).

Own methods also report the plan (`kd_ntk.ntk.explain`): layout ("blocked"
or "streamed"), compact_convs (convolutions the streamed layout keeps as
input + cotangents, their Jacobians formed per channel group), plan_gflop (the
floating-point operations of the chosen plan: pair contractions plus feature
products, multiply-add = 2), achieved_gflops (plan_gflop / seconds),
matmul_peak_gflops (the best of a few --peak_size² float32 matmuls in the same
process, measured just before the Gram and after each of its two calls; the
highest reading, so a drifting machine does not flatter the fraction) and
fraction_of_peak. Since the peak is a warm matmul, achieved_gflops and
fraction_of_peak time a second, warm call of the Gram (warm_seconds: tracing
and compilation excluded); cold_achieved_gflops and cold_fraction_of_peak use
the first call's seconds. warm_steal_fraction is the share of the machine's
CPU time the hypervisor gave to other guests during the warm call
(`bench_machine.StealMeter`); malloc_defaults says whether kd_ntk's glibc
malloc settings were on (`kd_ntk.host_malloc`; KD_NTK_MALLOC_DEFAULTS=0
turns them off).

Fields: seconds is the wall time of the first call, compilation included;
load_avg_1min is the machine's load when the measurement ended (on a shared
machine, compare ratios, not seconds);
peak_rss_gb is the process's peak resident memory (JAX runtime included);
peak_delta_gb subtracts the resident memory just before the measurement;
max_rel_diff_vs_nt compares the Gram matrix with the first neural-tangents one
(max |ΔK| / max |K|; neural-tangents' mean over logits is scaled by C).
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

import bench_machine  # experiments/, the script's own folder
from kd_ntk import host_malloc, xla_cpu

OWN = ("own:structured", "own:jacobian", "own:ntvp")
NT = ("nt:jc", "nt:sd", "nt:ntvp")
WHAT = "trace_gram"


def _gflop(flops: float):
  """GFLOP rounded, or None when the plan has no FLOP count (ntvp)."""
  return round(flops / 1e9, 1) if np.isfinite(flops) else None


def worker(args) -> dict:
  """Runs one measurement in this process and returns its JSON record."""
  import jax  # pylint: disable=g-import-not-at-top
  from kd_ntk.models import (
    get_model,
    inference_fn,
    init_variables,
    parameter_count,
  )

  shape = tuple(int(v) for v in args.input_shape.split(","))
  x, source = bench_machine.ntk_inputs(args.n, args.seed, shape)
  model = get_model(args.model, args.num_classes)
  f, params = inference_fn(
    model, init_variables(model, jax.random.PRNGKey(args.seed), shape)
  )
  record = dict(
    what=f"{args.model}_{source}_{WHAT}",
    model=args.model,
    method=args.method,
    n=args.n,
    input_shape=list(shape),
    params=parameter_count(params),
    backend=jax.default_backend(),
    devices=jax.device_count(),
    jax=jax.__version__,
  )
  if args.method.startswith("nt:"):
    import neural_tangents as nt  # pylint: disable=g-import-not-at-top

    from jax.interpreters import ad  # pylint: disable=g-import-not-at-top

    if not hasattr(ad, "source_info_util"):
      # neural-tangents 0.6.5's structured derivatives read two aliases that
      # JAX 0.5 no longer exports from `ad`; the modules themselves exist.
      from jax._src import source_info_util  # pylint: disable=g-import-not-at-top

      ad.source_info_util, ad.config = source_info_util, jax.config
      record["nt_shim"] = "ad.source_info_util, ad.config aliased"

    impl = {
      "nt:jc": nt.NtkImplementation.JACOBIAN_CONTRACTION,
      "nt:sd": nt.NtkImplementation.STRUCTURED_DERIVATIVES,
      "nt:ntvp": nt.NtkImplementation.NTK_VECTOR_PRODUCTS,
    }[args.method]
    batch = min(
      args.nt_ntvp_batch_size
      if args.method == "nt:ntvp"
      else args.nt_batch_size,
      args.n,
    )
    kernel_fn = nt.batch(
      nt.empirical_ntk_fn(
        f, trace_axes=(-1,), vmap_axes=0, implementation=impl
      ),
      batch_size=batch,
      store_on_device=False,
    )
    record["nt_batch_size"] = batch
    c = float(args.num_classes)
    run = lambda: (
      c * np.asarray(kernel_fn(x, None, params))
    )  # mean -> sum over C
  else:
    from kd_ntk.ntk import empirical_ntk, explain  # pylint: disable=g-import-not-at-top

    method = args.method.split(":")[1]
    cache_bytes = int(args.cache_gib * 2**30) if args.cache_gib else None
    plan = explain(
      f,
      params,
      x,
      method=method,
      block_size=args.block_size,
      cache_bytes=cache_bytes,
    )
    record.update(
      block_size=plan.block_size,
      cache_gib=args.cache_gib or None,
      plan_method=plan.method,
      layout=plan.layout,
      compact_convs=len(plan.compact_convs),
      panel_blocks=plan.panel_blocks,
      prepared_blocks=plan.prepared_examples // plan.block_size,
      feature_mib_per_example=round(plan.feature_bytes / 2**20, 3),
      plan_gflop=_gflop(plan.total_flops),
      plan_gram_gflop=_gflop(plan.gram_flops),
      plan_feature_gflop=_gflop(plan.feature_flops),
    )
    record["matmul_peak_before_gflops"] = round(
      bench_machine.matmul_peak_gflops(args.peak_size), 1
    )
    run = lambda: empirical_ntk(
      f,
      params,
      x,
      method=method,
      block_size=args.block_size,
      cache_bytes=cache_bytes,
      progress=args.progress,
    )
  record["malloc_defaults"] = os.environ.get(host_malloc.OPT_OUT_ENV) != "0"
  rss_before = bench_machine.rss_gb()
  cpu_before = time.process_time()
  start = time.perf_counter()
  gram = run()
  record["seconds"] = round(time.perf_counter() - start, 3)
  # CPU time (all threads) is steadier than wall time on a shared machine.
  record["cpu_seconds"] = round(time.process_time() - cpu_before, 3)
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  record.update(
    peak_rss_gb=round(peak, 3),
    peak_delta_gb=round(peak - rss_before, 3),
    finite=bool(np.all(np.isfinite(gram))),
    load_avg_1min=round(os.getloadavg()[0], 2),
  )
  # The machine's rate drifts (a shared VM: 200-263 GFLOP/s within minutes),
  # so the peak is also measured after each call and the highest reading is
  # the divisor.
  measure_peak = "matmul_peak_before_gflops" in record
  after = (
    [bench_machine.matmul_peak_gflops(args.peak_size)] if measure_peak else []
  )
  if record.get("plan_gflop") is not None:
    # The peak is a warm matmul, so the rate that is set against it comes
    # from a second, warm call (no tracing or compilation); the first call's
    # rate is kept beside it.
    meter = bench_machine.StealMeter().start()
    start = time.perf_counter()
    del gram
    gram = run()
    record["warm_seconds"] = round(time.perf_counter() - start, 3)
    record["warm_steal_fraction"] = meter.fraction()
    if measure_peak:
      after.append(bench_machine.matmul_peak_gflops(args.peak_size))
  if after:
    record["matmul_peak_after_gflops"] = round(max(after), 1)
    record["matmul_peak_gflops"] = max(
      record["matmul_peak_before_gflops"], record["matmul_peak_after_gflops"]
    )
  if "warm_seconds" in record:
    peak = record["matmul_peak_gflops"]
    cold, warm = (
      record["plan_gflop"] / record[k] for k in ("seconds", "warm_seconds")
    )
    record.update(
      achieved_gflops=round(warm, 1),
      fraction_of_peak=round(warm / peak, 3),
      cold_achieved_gflops=round(cold, 1),
      cold_fraction_of_peak=round(cold / peak, 3),
    )
  if args.save:
    np.save(args.save, np.asarray(gram, np.float32))
  return record


def _measure(method: str, n: int, args, save: str) -> dict:
  """One measurement in a subprocess. A neural-tangents run that fails under
  kd_ntk's XLA CPU defaults (JAX 0.5's legacy runtime aborts in oneDNN on
  ResNet-20's Jacobians at nt batch >= 32) is retried once on XLA's own
  default runtime, and the record says so."""
  record = _measure_once(method, n, args, save, os.environ)
  if record["status"] == "error" and method.startswith("nt:"):
    first = record["note"]
    record = _measure_once(method, n, args, save, xla_cpu.without_defaults())
    record["xla_runtime"] = "XLA default (kd_ntk's CPU flags off)"
    record["error_with_kd_ntk_flags"] = first[-120:]
  return record


def _measure_once(method: str, n: int, args, save: str, env) -> dict:
  cmd = [
    sys.executable,
    os.path.abspath(__file__),
    "--worker",
    f"--method={method}",
    f"--n={n}",
    f"--seed={args.seed}",
    f"--nt_batch_size={args.nt_batch_size}",
    f"--nt_ntvp_batch_size={args.nt_ntvp_batch_size}",
    f"--model={args.model}",
    f"--input_shape={args.input_shape}",
    f"--num_classes={args.num_classes}",
    f"--peak_size={args.peak_size}",
  ]
  if args.block_size:
    cmd.append(f"--block_size={args.block_size}")
  if args.cache_gib:
    cmd.append(f"--cache_gib={args.cache_gib}")
  if save:
    cmd.append(f"--save={save}")
  if args.progress:
    cmd.append("--progress")
  try:
    proc = subprocess.run(
      cmd,
      capture_output=True,
      text=True,
      timeout=args.timeout,
      env=env,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
  except subprocess.TimeoutExpired:
    return dict(
      what=WHAT,
      method=method,
      n=n,
      status="timeout",
      seconds=None,
      note=f"killed after {args.timeout} s",
    )
  lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
  if proc.returncode != 0 or not lines:
    log = (proc.stderr or proc.stdout).strip().splitlines()
    # Runtime log lines (absl "I0000 ...", TensorFlow's banners) are not the error.
    tail = [l for l in log if not re.match(r"[IWE]\d{4} |WARNING: All log", l)]
    tail = tail[-3:]
    return dict(
      what=WHAT,
      method=method,
      n=n,
      status="error",
      seconds=None,
      note=" | ".join(tail)[-400:],
    )
  record = json.loads(lines[-1])
  record["status"] = "ok"
  return record


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--model",
    default="lenet5",
    help="a preset of kd_ntk.models (lenet5, lenet5x8, resnet20, ...)",
  )
  parser.add_argument(
    "--input_shape",
    default="28,28,1",
    help="per-example input shape H,W,C (random inputs unless "
    "28,28,1 with Fashion-MNIST installed)",
  )
  parser.add_argument("--num_classes", type=int, default=10)
  parser.add_argument(
    "--n", default="256,1024,4096", help="comma-separated numbers of images"
  )
  parser.add_argument(
    "--methods",
    default=",".join(NT + OWN),
    help=f"comma-separated subset of {NT + OWN}",
  )
  parser.add_argument(
    "--max_nt_n",
    type=int,
    default=4096,
    help="skip neural-tangents above this n",
  )
  parser.add_argument(
    "--max_ntvp_n",
    type=int,
    default=256,
    help="skip both NTK-vector-product methods above this n (they "
    "cost O(n²·C) forward passes: minutes at n=256)",
  )
  parser.add_argument(
    "--timeout",
    type=float,
    default=900.0,
    help="seconds before a measurement is killed",
  )
  parser.add_argument(
    "--nt_batch_size",
    type=int,
    default=256,
    help="nt.batch block for JACOBIAN_CONTRACTION",
  )
  parser.add_argument(
    "--nt_ntvp_batch_size",
    type=int,
    default=32,
    help="nt.batch block for NTK_VECTOR_PRODUCTS (256 ran out of "
    "memory: 33 GB)",
  )
  parser.add_argument("--block_size", type=int, default=0, help="own; 0 = auto")
  parser.add_argument(
    "--cache_gib",
    type=float,
    default=0.0,
    help="own, blocked layout: GiB of prepared row blocks kept at once "
    "(empirical_ntk's cache_bytes); 0 = the library default",
  )
  parser.add_argument(
    "--peak_size",
    type=int,
    default=4096,
    help="side of the square float32 matmuls that measure the peak",
  )
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--progress", action="store_true")
  parser.add_argument(
    "--no_check",
    action="store_true",
    help="do not compare Gram matrices against neural-tangents",
  )
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument(
    "--method", default="own:structured", help=argparse.SUPPRESS
  )
  parser.add_argument("--save", default="", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  args.block_size = args.block_size or None

  if args.worker:
    args.n = int(args.n)
    print(json.dumps(worker(args)), flush=True)
    return

  methods = [m.strip() for m in args.methods.split(",") if m.strip()]
  unknown = set(methods) - set(NT + OWN)
  if unknown:
    parser.error(f"unknown methods {sorted(unknown)}; choose from {NT + OWN}")
  # neural-tangents first, so each own line can carry its ratio.
  methods = [m for m in NT if m in methods] + [m for m in OWN if m in methods]
  with tempfile.TemporaryDirectory() as tmp:
    for n in [int(v) for v in args.n.split(",")]:
      nt_seconds, nt_cpu, own, own_cpu, reference = {}, {}, {}, {}, None
      for method in methods:
        if method.startswith("nt:") and n > args.max_nt_n:
          continue
        if method.endswith("ntvp") and n > args.max_ntvp_n:
          print(
            json.dumps(
              dict(
                what=WHAT,
                method=method,
                n=n,
                status="skipped",
                note=f"n > --max_ntvp_n={args.max_ntvp_n}",
              )
            ),
            flush=True,
          )
          continue
        save = (
          ""
          if args.no_check or n > 4096
          else os.path.join(tmp, f"{method[3:]}{n}.npy")
        )
        record = _measure(method, n, args, save)
        if record["status"] == "ok" and save:
          gram = np.load(save)
          if reference is None and method.startswith("nt:"):
            reference = gram
          elif reference is not None:
            record["max_rel_diff_vs_nt"] = float(
              np.abs(gram - reference).max() / np.abs(reference).max()
            )
          os.remove(save)
        if record["status"] == "ok":
          (nt_seconds if method.startswith("nt:") else own)[method] = record[
            "seconds"
          ]
          (nt_cpu if method.startswith("nt:") else own_cpu)[method] = record[
            "cpu_seconds"
          ]
        best_nt = min(nt_seconds.values()) if nt_seconds else None
        if record["status"] == "ok" and best_nt:
          record["ratio_vs_nt_best"] = round(record["seconds"] / best_nt, 4)
          best_nt_cpu = min(nt_cpu.values())
          record["cpu_ratio_vs_nt_best"] = round(
            record["cpu_seconds"] / best_nt_cpu, 4
          )
        print(json.dumps(record), flush=True)
      if own:
        best = min(own, key=own.get)
        best_nt = min(nt_seconds.values()) if nt_seconds else None
        print(
          json.dumps(
            dict(
              what="summary",
              method=f"own_best={best}",
              n=n,
              seconds=own[best],
              nt_best=(
                min(nt_seconds, key=nt_seconds.get) if nt_seconds else None
              ),
              nt_best_seconds=best_nt,
              ratio_vs_nt_best=round(own[best] / best_nt, 4)
              if best_nt
              else None,
              cpu_ratio_vs_nt_best=(
                round(own_cpu[best] / min(nt_cpu.values()), 4)
                if nt_cpu
                else None
              ),
            )
          ),
          flush=True,
        )


if __name__ == "__main__":
  main()
