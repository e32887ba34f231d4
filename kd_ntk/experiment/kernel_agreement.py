"""Do the kernels agree? Rank correlations of teacher ASC between kernels, the
claims C1, C2, C4 under each kernel, and the side-by-side figure.

For kernels a and b, with m_k(t, τ) the ASC of teacher checkpoint t at
temperature τ under kernel k averaged over the NTK subsets,

    ρ_s(a, b) = Spearman( {m_a(t, τ)}, {m_b(t, τ)} )    over every (t, τ),

(ranks with ties averaged), the same per subset (whose range is reported), and
over checkpoints alone at each τ (the harder test: τ alone orders most pairs).
A claim's outcome under a kernel is `kd_ntk.science.claims`'s verdict on that
kernel's rows: an interval paired over the NTK subsets (draws averaged).
"""

import json
import os
from itertools import combinations
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kd_ntk import distributed
from kd_ntk.science import claims  # noqa: E402

AGREEMENT_JSON = "kernel_agreement.json"
AGREEMENT_MD = "kernel_agreement.md"
FIGURE = "asc_vs_teacher_epoch_by_kernel.png"
CLAIMS = ("C1", "C2", "C4")


def ranks(values: Sequence[float]) -> np.ndarray:
  """Ranks 0..n-1 with ties given their average rank."""
  values = np.asarray(values, np.float64)
  order = np.argsort(values, kind="mergesort")
  out = np.empty(len(values))
  sorted_vals = values[order]
  i = 0
  while i < len(values):
    j = i
    while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
      j += 1
    out[order[i : j + 1]] = (i + j) / 2
    i = j + 1
  return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
  """Spearman's ρ: Pearson correlation of tie-averaged ranks (nan: constant)."""
  if len(x) != len(y):
    raise ValueError(
      f"spearman needs equal lengths; got {len(x)} and {len(y)}."
    )
  rx, ry = ranks(x), ranks(y)
  if len(x) < 2 or np.std(rx) == 0 or np.std(ry) == 0:
    return float("nan")
  return float(np.corrcoef(rx, ry)[0, 1])


def kernels_of(rows: list[dict]) -> list[str]:
  return list(dict.fromkeys(r.get("kernel", "empirical") for r in rows))


def _teacher_asc(rows, kernel, subset=None) -> dict[tuple, float]:
  """{(teacher epoch, τ): ASC} under `kernel` at its first student epoch, one
  subset or the mean over subsets."""
  chosen = [
    r
    for r in rows
    if r.get("kernel", "empirical") == kernel
    and r["target"] == "teacher"
    and (subset is None or r.get("subset", 0) == subset)
  ]
  first = min(r["student_epoch"] for r in chosen)
  values: dict[tuple, list[float]] = {}
  for r in chosen:
    if r["student_epoch"] == first:
      values.setdefault((r["teacher_epoch"], r["temperature"]), []).append(
        r["asc"]
      )
  return {k: float(np.mean(v)) for k, v in values.items()}


def rank_agreement(rows: list[dict]) -> list[dict]:
  """Spearman ρ of teacher (checkpoint, τ) ASC between each pair of kernels."""
  subsets = sorted({r.get("subset", 0) for r in rows})
  out = []
  for a, b in combinations(kernels_of(rows), 2):
    mean_a, mean_b = _teacher_asc(rows, a), _teacher_asc(rows, b)
    keys = sorted(set(mean_a) & set(mean_b))
    per_subset = []
    for s in subsets:
      sa, sb = _teacher_asc(rows, a, s), _teacher_asc(rows, b, s)
      common = sorted(set(sa) & set(sb))
      per_subset.append(
        spearman([sa[k] for k in common], [sb[k] for k in common])
      )
    within = {}
    for tau in sorted({k[1] for k in keys}):
      at = [k for k in keys if k[1] == tau]
      within[f"{tau:g}"] = spearman(
        [mean_a[k] for k in at], [mean_b[k] for k in at]
      )
    out.append(
      {
        "kernels": [a, b],
        "points": len(keys),
        "spearman_of_subset_means": spearman(
          [mean_a[k] for k in keys], [mean_b[k] for k in keys]
        ),
        "spearman_per_subset": per_subset,
        "spearman_within_tau": within,
      }
    )
  return out


def claims_by_kernel(rows: list[dict]) -> dict[str, dict]:
  """{kernel: {claim: {"outcome", "estimate", "interval"}}} for C1, C2, C4.

  Each kernel's rows (every subset and random-label draw) go through
  `claims.complexity_verdicts`, so an outcome is the paired-over-subsets
  statement of `kd_ntk.science.stats`, not a count of passing subsets.
  """
  out = {}
  for kernel in kernels_of(rows):
    mine = [r for r in rows if r.get("kernel", "empirical") == kernel]
    verdicts = {v["claim"]: v for v in claims.complexity_verdicts(mine)}
    out[kernel] = {}
    for claim in CLAIMS:
      v = verdicts.get(claim, {})
      first = (v.get("comparisons") or [{}])[0]
      out[kernel][claim] = {
        "outcome": v.get("outcome", "not computed"),
        "estimate": first.get("estimate"),
        "interval": [first.get("low"), first.get("high")],
      }
  return out


def notes_by_kernel(rows: list[dict]) -> dict[str, str]:
  return {
    k: next(
      (
        r.get("kernel_note") or ""
        for r in rows
        if r.get("kernel", "empirical") == k
      ),
      "",
    )
    for k in kernels_of(rows)
  }


def _fmt(x) -> str:
  return "nan" if x is None or not np.isfinite(x) else f"{x:.3f}"


def agreement_markdown(report: dict) -> str:
  lines = [
    "# Agreement between kernels",
    "",
    "Spearman ρ of the teacher-checkpoint ASC over every (checkpoint, τ), "
    "on the ASC averaged over NTK subsets; in brackets the range over subsets.",
    "",
    "| kernel a | kernel b | points | ρ (subset means) | ρ per subset (min–max) "
    "| ρ over checkpoints at each τ |",
    "|---|---|---|---|---|---|",
  ]
  for pair in report["rank_agreement"]:
    per = [p for p in pair["spearman_per_subset"] if np.isfinite(p)]
    span = f"{_fmt(min(per))}–{_fmt(max(per))}" if per else "nan"
    within = ", ".join(
      f"τ={t}: {_fmt(r)}" for t, r in pair["spearman_within_tau"].items()
    )
    lines.append(
      f"| {pair['kernels'][0]} | {pair['kernels'][1]} | {pair['points']} | "
      f"{_fmt(pair['spearman_of_subset_means'])} | {span} | {within} |"
    )
  lines += [
    "",
    "Claims under each kernel (outcome of kd_ntk.science.claims over "
    "the NTK subsets):",
    "",
    "| kernel | " + " | ".join(CLAIMS) + " | kernel note |",
    "|---" * (len(CLAIMS) + 2) + "|",
  ]
  for kernel, verdicts in report["claims_by_kernel"].items():
    cells = [verdicts[c]["outcome"] for c in CLAIMS]
    lines.append(
      f"| {kernel} | "
      + " | ".join(cells)
      + f" | {report['kernel_notes'].get(kernel) or 'exact'} |"
    )
  return "\n".join(lines) + "\n"


def write_agreement(rows: list[dict], workdir: str) -> dict:
  """Writes kernel_agreement.json and .md in `workdir`; returns the report."""
  report = {
    "rank_agreement": rank_agreement(rows),
    "claims_by_kernel": claims_by_kernel(rows),
    "kernel_notes": notes_by_kernel(rows),
  }
  if distributed.is_writer():  # Multi-process runs: process 0 writes.
    with open(os.path.join(workdir, AGREEMENT_JSON), "w") as fh:
      json.dump(report, fh, indent=2, default=lambda x: None)
    with open(os.path.join(workdir, AGREEMENT_MD), "w") as fh:
      fh.write(agreement_markdown(report))
  return report


def plot_by_kernel(rows: list[dict], path: str) -> str:
  """ASC against teacher epoch, one panel per kernel on shared axes: one line
  per τ (mean over subsets, band = min–max), labels and random labels dashed."""
  kernels = kernels_of(rows)
  fig, axes = plt.subplots(
    1,
    len(kernels),
    figsize=(4 * len(kernels), 3.6),
    sharex=True,
    sharey=True,
    squeeze=False,
  )
  for ax, kernel in zip(axes[0], kernels):
    mine = [r for r in rows if r.get("kernel", "empirical") == kernel]
    first = min(r["student_epoch"] for r in mine)
    mine = [r for r in mine if r["student_epoch"] == first]
    for tau in sorted(
      {r["temperature"] for r in mine if r["target"] == "teacher"}
    ):
      epochs = sorted(
        {r["teacher_epoch"] for r in mine if r["target"] == "teacher"}
      )
      vals = [
        [
          r["asc"]
          for r in mine
          if r["target"] == "teacher"
          and r["temperature"] == tau
          and r["teacher_epoch"] == t
        ]
        for t in epochs
      ]
      ax.plot(
        epochs,
        [np.mean(v) for v in vals],
        marker="o",
        label=f"teacher τ={tau:g}",
      )
      ax.fill_between(
        epochs, [min(v) for v in vals], [max(v) for v in vals], alpha=0.2
      )
    for target, style in (("labels", "--"), ("random_labels", ":")):
      vals = [r["asc"] for r in mine if r["target"] == target]
      if vals:
        ax.axhline(
          np.mean(vals),
          color="k",
          linestyle=style,
          label=target.replace("_", " "),
        )
    ax.set_title(kernel)
    ax.set_xlabel("teacher checkpoint (epoch)")
  axes[0][0].set_ylabel("adjusted supervision complexity")
  axes[0][-1].legend(fontsize=7)
  fig.tight_layout()
  if distributed.is_writer():  # Multi-process runs: process 0 writes.
    fig.savefig(path, dpi=120)
  plt.close(fig)
  return path
