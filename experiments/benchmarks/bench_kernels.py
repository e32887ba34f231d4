r"""Benchmark: seconds and peak memory of each kernel of the complexity run.

For each student twin (the "mlp" preset and LeNet-5) and each kernel of
`kd_ntk.ntk.kernel_choice` ("empirical", "empirical_nt", "monte_carlo",
"infinite", "nngp") it builds the (n, n) trace Gram matrix of n Fashion-MNIST
training images, each measurement in its own subprocess so its peak memory is
its own, and prints one JSON line per measurement. `ratio_vs_empirical` is the
wall time over that of "empirical" for the same model and n in this run.

    # n=2048, everything:
    python experiments/benchmarks/bench_kernels.py
    python experiments/benchmarks/bench_kernels.py --models=mlp \
        --kernels=empirical,infinite
    python experiments/benchmarks/bench_kernels.py --models=lenet5 \
        --kernels=infinite --n=64

Fields: seconds (wall, first call, compilation included), cpu_seconds (all
threads), peak_rss_gb (the process's peak resident memory, JAX runtime
included), peak_delta_gb (minus the resident memory before the measurement),
load_avg_1min (the machine's load when the measurement ended).
A measurement past --timeout is reported with status "timeout".
"""

import argparse
import json
import os
import sys

import numpy as np

import bench_machine  # experiments/benchmarks/, the script's own folder

MODELS = ("mlp", "lenet5")
KERNELS = ("empirical", "empirical_nt", "monte_carlo", "infinite", "nngp")
WHAT = "complexity_kernel_trace_gram"


def worker(args) -> dict:
  """One measurement in this process; returns its JSON record."""
  import jax  # pylint: disable=g-import-not-at-top
  from kd_ntk.data import prepare_splits  # pylint: disable=g-import-not-at-top
  from kd_ntk.models import get_model, inference_fn, init_variables
  from kd_ntk.ntk.kernel_choice import (
    GramOptions,
    Student,
    check_kernels,
    gram_matrix,
  )

  splits = prepare_splits(
    "fashion_mnist", train_subset=args.n, subset_seed=args.seed
  )
  x = np.asarray(splits.train_images, np.float32)
  shape = tuple(x.shape[1:])
  model = get_model(args.model, 10)
  f, params = inference_fn(
    model, init_variables(model, jax.random.PRNGKey(args.seed), shape)
  )
  student = Student(
    args.model,
    {},
    10,
    f,
    params,
    lambda key: init_variables(model, key, shape)["params"],
  )
  check_kernels((args.kernel,), args.model)
  options = GramOptions(mc_samples=args.mc_samples)
  record = dict(
    what=WHAT,
    model=args.model,
    kernel=args.kernel,
    n=args.n,
    backend=jax.default_backend(),
    jax=jax.__version__,
  )
  if args.kernel == "monte_carlo":
    record["mc_samples"] = args.mc_samples
  bench_machine.timed_first_call(
    lambda: gram_matrix(args.kernel, student, x, options), record
  )
  return record


def _measure(model: str, kernel: str, args) -> dict:
  cmd = [
    sys.executable,
    os.path.abspath(__file__),
    "--worker",
    f"--models={model}",
    f"--kernels={kernel}",
    f"--n={args.n}",
    f"--seed={args.seed}",
    f"--mc_samples={args.mc_samples}",
  ]
  base = dict(what=WHAT, model=model, kernel=kernel, n=args.n)
  return bench_machine.run_worker(cmd, base, args.timeout)


def _names(text: str, known, what: str, parser):
  names = [v.strip() for v in text.split(",") if v.strip()]
  unknown = sorted(set(names) - set(known))
  if unknown or not names:
    parser.error(f"unknown or no {what} {unknown}; choose from {known}")
  return names


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--n", type=int, default=2048)
  parser.add_argument("--models", default=",".join(MODELS))
  parser.add_argument("--kernels", default=",".join(KERNELS))
  parser.add_argument("--mc_samples", type=int, default=8)
  parser.add_argument(
    "--timeout",
    type=float,
    default=1800.0,
    help="seconds before a measurement is killed",
  )
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  models = _names(args.models, MODELS, "models", parser)
  kernels = _names(args.kernels, KERNELS, "kernels", parser)
  if args.n < 2:
    parser.error(f"--n must be at least 2; got {args.n}")
  if args.worker:
    args.model, args.kernel = models[0], kernels[0]
    print(json.dumps(worker(args)), flush=True)
    return
  # "empirical" first: the reference
  kernels = [k for k in KERNELS if k in kernels]
  for model in models:
    reference = None
    for kernel in kernels:
      record = _measure(model, kernel, args)
      if kernel == "empirical" and record["status"] == "ok":
        reference = record["seconds"]
      if reference and record["status"] == "ok":
        record["ratio_vs_empirical"] = round(record["seconds"] / reference, 3)
      print(json.dumps(record), flush=True)


if __name__ == "__main__":
  main()
