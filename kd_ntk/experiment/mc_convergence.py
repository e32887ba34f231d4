"""How fast the Monte-Carlo ASC of a ReLU MLP approaches its infinite-width ASC.

For widths w and sample counts m, with K̄_{w,m} the mean empirical NTK of m
independent initialisations of `NTKParamMLP(width=w)` (NTK parameterisation,
so the limit does not depend on w) and Θ the closed-form infinite-width NTK
(`mlp_kernels_closed_form`, no neural-tangents needed):

    asc_error    = |ASC(Y; K̄_{w,m}) / ASC(Y; Θ) − 1|
    kernel_error = ‖K̄_{w,m} − Θ‖_F / ‖Θ‖_F

averaged over `repeats` independent seeds. The fluctuation part shrinks like
1/sqrt(w·m); for depth ≥ 2 a finite-width bias O(1/w) remains at any m.
"""

import csv
import os
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kd_ntk import complexity  # noqa: E402
from kd_ntk.ntk import (  # noqa: E402
  NTKParamMLP,
  mlp_kernels_closed_form,
  monte_carlo_ntk,
)

CSV_FILE = "mc_convergence.csv"
MD_FILE = "mc_convergence.md"
FIGURE = "mc_convergence.png"


def convergence_rows(
  x: np.ndarray,
  targets: np.ndarray,
  *,
  widths: Sequence[int],
  samples: Sequence[int],
  depth: int = 1,
  repeats: int = 3,
  b_std: float = 0.0,
) -> list[dict]:
  """One row per (width, samples, repeat) with both errors and the seconds."""
  if (
    not widths
    or not samples
    or repeats < 1
    or min(widths) < 1
    or min(samples) < 1
  ):
    raise ValueError(
      "widths and samples must be non-empty lists of positive integers "
      f"and repeats >= 1; got {widths}, {samples}, {repeats}."
    )
  num_classes = targets.shape[1]
  exact = mlp_kernels_closed_form(
    x, depth=depth, num_classes=num_classes, b_std=b_std
  )["ntk"]
  asc_exact = complexity.supervision_complexity(targets, exact).asc
  rows = []
  for width in widths:
    model = NTKParamMLP(num_classes, width=width, depth=depth, b_std=b_std)
    f = lambda p, xx, model=model: model.apply({"params": p}, xx)
    init = lambda key, model=model: model.init(key, jnp.asarray(x[:1]))[
      "params"
    ]
    for m in samples:
      for r in range(repeats):
        start = time.time()
        # float32 blocks: their ~1e-6 error is far below the Monte-Carlo error.
        k = monte_carlo_ntk(
          f, init, x, num_samples=m, rng=jax.random.PRNGKey(1000 * r + m)
        )
        asc = complexity.supervision_complexity(targets, k).asc
        rows.append(
          {
            "width": width,
            "samples": m,
            "repeat": r,
            "depth": depth,
            "n": len(x),
            "asc": asc,
            "asc_infinite": asc_exact,
            "asc_error": abs(asc / asc_exact - 1),
            "kernel_error": float(
              np.linalg.norm(k - exact) / np.linalg.norm(exact)
            ),
            "seconds": round(time.time() - start, 3),
          }
        )
  return rows


def _mean(rows, width, m, key):
  return float(
    np.mean([r[key] for r in rows if r["width"] == width and r["samples"] == m])
  )


def table_markdown(rows: list[dict]) -> str:
  """Widths x samples table of the mean ASC error (kernel error in brackets)."""
  widths = sorted({r["width"] for r in rows})
  samples = sorted({r["samples"] for r in rows})
  head = rows[0]
  lines = [
    f"Monte-Carlo ASC of a depth-{head['depth']} ReLU MLP (NTK parameterisation) on "
    f"n={head['n']} examples against the infinite-width ASC "
    f"{head['asc_infinite']:.4f}: mean |ASC_mc/ASC_inf − 1| over "
    f"{len({r['repeat'] for r in rows})} seeds (relative Frobenius error of the "
    "kernel in brackets).",
    "",
    "| width | " + " | ".join(f"m={m}" for m in samples) + " |",
    "|---" * (len(samples) + 1) + "|",
  ]
  for w in widths:
    cells = [
      f"{100 * _mean(rows, w, m, 'asc_error'):.2f}% "
      f"({100 * _mean(rows, w, m, 'kernel_error'):.1f}%)"
      for m in samples
    ]
    lines.append(f"| {w} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: str) -> str:
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
  for w in sorted({r["width"] for r in rows}):
    samples = sorted({r["samples"] for r in rows})
    for ax, key in zip(axes, ("asc_error", "kernel_error")):
      ax.plot(
        samples,
        [_mean(rows, w, m, key) for m in samples],
        marker="o",
        label=f"width {w}",
      )
  for ax, title in zip(
    axes, ("|ASC_mc / ASC_inf − 1|", "‖K_mc − Θ‖_F / ‖Θ‖_F")
  ):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Monte-Carlo samples m")
    ax.set_title(title)
  axes[1].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def write(rows: list[dict], workdir: str) -> str:
  """Writes the CSV, the markdown table and the figure; returns the table."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, CSV_FILE), "w", newline="") as fh:
    writer = csv.DictWriter(fh, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  table = table_markdown(rows)
  with open(os.path.join(workdir, MD_FILE), "w") as fh:
    fh.write(table)
  plot(rows, os.path.join(workdir, FIGURE))
  return table
