r"""Benchmark of `supervision_complexity`: Cholesky route vs eigh route.

Prints one JSON line per measurement. For each n, on a synthetic float64 PSD
Gram matrix (random features with a power-law spectrum, `K = X Xᵀ/d + 1e-3·I`,
the diagonal normalised to mean 1) and one-hot random labels with C classes:

* reference: one plain `np.linalg.solve(K + λI, Y)` at the default ridge;
* supervision_complexity with the default ridge path, once per method.

Each line has the seconds, the peak memory allocated through numpy
(tracemalloc), and the ratio against the reference measured in the same run.
No JAX. Usage:

  python experiments/benchmarks/bench_complexity.py --sizes=1024,4096,10000 \
      --methods=cholesky,eigh
"""

import argparse
import json
import time
import tracemalloc

import numpy as np

from kd_ntk.complexity import supervision
from kd_ntk.complexity import targets as targets_lib


def synthetic_gram(n: int, num_features: int, seed: int) -> np.ndarray:
  """`X Xᵀ/d + 1e-3·I` with feature scales `j^{-1/2}`: an NTK-like spectrum."""
  rng = np.random.default_rng(seed)
  features = rng.standard_normal((n, num_features))
  features *= (1.0 + np.arange(num_features)) ** -0.5
  gram = features @ features.T
  gram /= np.trace(gram) / n
  gram[np.diag_indices(n)] += 1e-3
  return gram


def timed(fn):
  """Runs fn once: (result, seconds, peak MiB allocated while it ran)."""
  tracemalloc.start()
  start = time.perf_counter()
  result = fn()
  seconds = time.perf_counter() - start
  _, peak = tracemalloc.get_traced_memory()
  tracemalloc.stop()
  return result, seconds, peak / 2**20


def bench_one_size(
  n: int, num_classes: int, *, methods, num_features: int, seed: int
):
  gram = synthetic_gram(n, min(n, num_features), seed)
  targets_NxC = targets_lib.random_labels(n, num_classes, seed)
  ridge = 1e-6
  shifted = gram + ridge * np.trace(gram) / n * np.eye(n)
  _, reference_seconds, reference_mib = timed(
    lambda: np.linalg.solve(shifted, targets_NxC)
  )
  del shifted
  common = {
    "n": n,
    "num_classes": num_classes,
    "num_features": min(n, num_features),
  }
  print(
    json.dumps(
      {
        "what": "reference: np.linalg.solve(K + λI, Y), one ridge",
        **common,
        "seconds": round(reference_seconds, 3),
        "peak_mib": round(reference_mib, 1),
      }
    ),
    flush=True,
  )
  for method in methods:
    result, seconds, peak_mib = timed(
      lambda m=method: supervision.supervision_complexity(
        targets_NxC, gram, ridge=ridge, method=m
      )
    )
    print(
      json.dumps(
        {
          "what": "supervision_complexity with ridge path",
          **common,
          "method": method,
          "method_used": result.method_used,
          "ridges": len(result.ridge_path),
          "seconds": round(seconds, 3),
          "peak_mib": round(peak_mib, 1),
          "ratio_vs_reference": round(seconds / reference_seconds, 2),
          "asc": result.asc,
          "condition_number": result.condition_number,
          "ridge_dominated": result.ridge_dominated,
        }
      ),
      flush=True,
    )


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--sizes", default="1024,4096,10000", help="comma-separated n"
  )
  parser.add_argument("--num_classes", type=int, default=10, help="C")
  parser.add_argument(
    "--methods", default="cholesky,eigh", help="comma-separated"
  )
  parser.add_argument(
    "--num_features", type=int, default=2048, help="rank of X Xᵀ"
  )
  parser.add_argument(
    "--seed", type=int, default=0, help="seed of gram and labels"
  )
  args = parser.parse_args()
  for n in (int(s) for s in args.sizes.split(",")):
    bench_one_size(
      n,
      args.num_classes,
      methods=args.methods.split(","),
      num_features=args.num_features,
      seed=args.seed,
    )


if __name__ == "__main__":
  main()
