r"""Benchmark: a student's trace-NTK Gram (default: LeNet-5 on Fashion-MNIST).

Times kd_ntk's own methods against neural-tangents' implementations (nt:jc
Jacobian contraction, nt:sd structured derivatives, nt:ntvp NTK-vector
products; "nt best" is the fastest that finished) on the same inputs and
parameters, each measurement in its own subprocess (`bench_ntk_worker.py`)
so that its peak memory (ru_maxrss, which sees XLA's buffers) is its own.
Prints one JSON line per measurement and one "summary" line per n with
own-best / nt-best.

    # Full run:
    .venv/bin/python experiments/benchmarks/bench_ntk.py
    .venv/bin/python experiments/benchmarks/bench_ntk.py --n=256 \
        --methods=own:structured,nt:jc
    .venv/bin/python experiments/benchmarks/bench_ntk.py --n=10000 \
        --methods=own:structured
    .venv/bin/python experiments/benchmarks/bench_ntk.py --model=lenet5x8 \
        --n=1024 --methods=nt:jc,own:structured
    .venv/bin/python experiments/benchmarks/bench_ntk.py --model=resnet20 \
        --input_shape=32,32,3 --n=512

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

Fields: cpu_model and cpus name the machine (`bench_machine.machine_fields`);
seconds is the wall time of the first call, compilation included;
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
import sys
import tempfile

import numpy as np

import bench_machine  # experiments/benchmarks/, the script's own folder
from bench_ntk_worker import NT, OWN, WHAT, worker
from kd_ntk import xla_cpu


def _measure(method: str, n: int, args, save: str) -> dict:
  """One measurement in a subprocess. A neural-tangents run that fails under
  kd_ntk's XLA CPU defaults (JAX 0.5's legacy runtime aborts in oneDNN on
  ResNet-20's Jacobians at nt batch >= 32) is retried once on XLA's own
  default runtime, and the record says so."""
  record = _measure_once(method, n, args=args, save=save, env=os.environ)
  if record["status"] == "error" and method.startswith("nt:"):
    first = record["note"]
    record = _measure_once(
      method, n, args=args, save=save, env=xla_cpu.without_defaults()
    )
    record["xla_runtime"] = "XLA default (kd_ntk's CPU flags off)"
    record["error_with_kd_ntk_flags"] = first[-120:]
  return record


def _measure_once(method: str, n: int, *, args, save: str, env) -> dict:
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
  base = dict(what=WHAT, method=method, n=n)
  return bench_machine.run_worker(cmd, base, args.timeout, env)


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
  from kd_ntk.models import MODELS  # pylint: disable=g-import-not-at-top

  if args.model not in MODELS:
    parser.error(
      f"unknown --model {args.model!r}; choose from {sorted(MODELS)}"
    )
  if not re.fullmatch(r"\d+(,\d+)*", args.input_shape):
    parser.error(
      f"--input_shape must be integers H,W,C; got {args.input_shape!r}"
    )
  # neural-tangents first, so each own line can carry its ratio.
  methods = [m for m in NT if m in methods] + [m for m in OWN if m in methods]
  with tempfile.TemporaryDirectory() as tmp:
    for n in [int(v) for v in args.n.split(",")]:
      _run_size(n, methods, args, tmp)


def _print(record: dict) -> None:
  print(json.dumps(record), flush=True)


def _run_size(n: int, methods, args, tmp: str) -> None:
  """Every method at one n: a line each (own ones with their ratio to the
  fastest neural-tangents method so far), then the summary line."""
  seconds, cpu, reference = {}, {}, None
  for method in methods:
    if method.startswith("nt:") and n > args.max_nt_n:
      continue
    if method.endswith("ntvp") and n > args.max_ntvp_n:
      note = f"n > --max_ntvp_n={args.max_ntvp_n}"
      _print(dict(what=WHAT, method=method, n=n, status="skipped", note=note))
      continue
    check = not args.no_check and n <= 4096
    save = os.path.join(tmp, f"{method[3:]}{n}.npy") if check else ""
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
      seconds[method], cpu[method] = record["seconds"], record["cpu_seconds"]
    nt = _best([m for m in seconds if m.startswith("nt:")], seconds)
    if record["status"] == "ok" and nt:
      record["ratio_vs_nt_best"] = round(record["seconds"] / seconds[nt], 4)
      nt_cpu = min(cpu[m] for m in seconds if m.startswith("nt:"))
      record["cpu_ratio_vs_nt_best"] = round(record["cpu_seconds"] / nt_cpu, 4)
    _print(record)
  own = _best([m for m in seconds if not m.startswith("nt:")], seconds)
  if own:
    nt_methods = [m for m in seconds if m.startswith("nt:")]
    nt = _best(nt_methods, seconds)
    nt_cpu = min((cpu[m] for m in nt_methods), default=None)
    _print(
      dict(
        what="summary",
        method=f"own_best={own}",
        n=n,
        seconds=seconds[own],
        nt_best=nt,
        nt_best_seconds=seconds[nt] if nt else None,
        ratio_vs_nt_best=round(seconds[own] / seconds[nt], 4) if nt else None,
        cpu_ratio_vs_nt_best=round(cpu[own] / nt_cpu, 4) if nt_cpu else None,
      )
    )


def _best(methods, seconds):
  """The fastest of `methods` by wall time, or None."""
  return min(methods, key=seconds.get, default=None)


if __name__ == "__main__":
  main()
