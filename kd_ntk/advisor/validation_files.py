"""The validation report as files: per-pair and per-score CSVs, Markdown, a
figure.

pairs.csv         every pair: its scores, the students' mean and std test
                  accuracy and each seed's accuracy;
correlations.csv  every score: Spearman, Kendall, the paired difference
                  against the teacher-accuracy baseline (each with its 95%
                  interval), its advised pair(s) and regrets;
validation.md     the same as tables, accuracies and regrets in points;
validation.png    the students' accuracy against the checkpoint (one line per
                  τ) and against four scores.
"""

import csv
import os

import numpy as np
from matplotlib.figure import Figure

from kd_ntk.advisor import stats
from kd_ntk.advisor.records import SCORES, Advice
from kd_ntk.advisor.validate import BASELINE, ValidationReport

FIGURE_SCORES = (
  "krr_accuracy",
  "asc_norm_matched",
  "grace",
  "teacher_accuracy",
)


def pair_rows(report: ValidationReport, advice: Advice) -> list[dict]:
  found = advice.by_candidate()
  rows = []
  for c, acc in zip(report.candidates, report.accuracy):
    row = found[c].as_dict()
    row["student_accuracy_mean"] = float(np.mean(acc))
    row["student_accuracy_std"] = (
      float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0
    )
    for s, value in zip(report.seeds, acc):
      row[f"student_accuracy_seed{s}"] = float(value)
    rows.append(row)
  return rows


def _write_csv(rows: list[dict], path: str) -> str:
  with open(path, "w", newline="") as fh:
    writer = csv.DictWriter(fh, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return path


def markdown(report: ValidationReport, advice: Advice, title: str = "") -> str:
  """Tables of the grid and of every score's validation."""
  best = report.best
  mean = dict(zip(report.candidates, 100 * report.accuracy.mean(axis=1)))
  rec = advice.recommended.candidate
  lines = [f"## {title}" if title else "", ""]
  lines += [
    f"Grid: {len(report.candidates)} pairs × {len(report.seeds)} seeds "
    f"(checkpoints {sorted({c.epoch for c in report.candidates})}, τ "
    f"{sorted({c.temperature for c in report.candidates})}); student "
    f"`{advice.student}`; advice from n = {advice.n_train} kernel examples "
    f"and {advice.n_validation} validation examples, ranked by "
    f"`{report.decision}`.",
    "",
    f"Advised: {rec.label()} ({mean.get(rec, float('nan')):.2f}%); best pair: "
    f"{best.label()} ({mean[best]:.2f}%)"
    + (
      f"; final teacher at τ = 4: {mean[report.reference]:.2f}%."
      if report.reference
      else "."
    ),
    "",
    "| score | Spearman [95%] | Kendall [95%] | ΔSpearman vs teacher acc [95%] "
    "| advised | regret vs best (points) [95%] | regret vs final τ=4 (points) [95%] |",
    "|---|---|---|---|---|---|---|",
  ]
  for v in report.scores:
    name = f"**{v.score}**" if v.score == report.decision else v.score
    advised = "; ".join(c.label() for c in v.advised[:3]) + (
      f" (+{len(v.advised) - 3} tied)" if len(v.advised) > 3 else ""
    )
    lines.append(
      f"| {name} | {stats.describe(v.spearman)} | {stats.describe(v.kendall)} "
      f"| {'—' if v.score == BASELINE else stats.describe(v.spearman_vs_baseline)} "
      f"| {advised} | {stats.describe(v.regret_vs_best, 100, 2)} "
      f"| {stats.describe(v.regret_vs_reference, 100, 2)} |"
    )
  lines += ["", "Students' test accuracy (%, mean ± std over seeds):", ""]
  taus = sorted({c.temperature for c in report.candidates})
  lines.append("| t | " + " | ".join(f"τ={t:g}" for t in taus) + " |")
  lines.append("|---|" + "---|" * len(taus))
  std = dict(zip(report.candidates, 100 * report.accuracy.std(axis=1, ddof=1)))
  for epoch in sorted({c.epoch for c in report.candidates}):
    cells = []
    for tau in taus:
      c = type(best)(epoch, tau)
      cells.append(f"{mean[c]:.2f} ± {std[c]:.2f}" if c in mean else "")
    lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def figure(report: ValidationReport, advice: Advice, path: str) -> str:
  found = advice.by_candidate()
  mean = 100 * report.accuracy.mean(axis=1)
  fig = Figure(figsize=(3.2 * (1 + len(FIGURE_SCORES)), 3.2))
  axes = fig.subplots(1, 1 + len(FIGURE_SCORES))
  taus = sorted({c.temperature for c in report.candidates})
  for tau in taus:
    pts = sorted(
      (c.epoch, m)
      for c, m in zip(report.candidates, mean)
      if c.temperature == tau
    )
    axes[0].plot(*zip(*pts), marker="o", ms=3, label=f"τ={tau:g}")
  axes[0].set_xlabel("teacher checkpoint")
  axes[0].set_ylabel("student test accuracy (%)")
  axes[0].legend(fontsize=7)
  by = report.by_score()
  for ax, score in zip(axes[1:], FIGURE_SCORES):
    for tau in taus:
      pts = [
        (getattr(found[c], score), m)
        for c, m in zip(report.candidates, mean)
        if c.temperature == tau
      ]
      ax.plot(*zip(*pts), "o", ms=4, label=f"τ={tau:g}")
    rho = by[score].spearman.estimate if score in by else float("nan")
    direction = "higher" if SCORES[score][0] > 0 else "lower"
    ax.set_title(f"{score} ({direction} better), ρ={rho:.2f}", fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  return path


def write_validation(
  report: ValidationReport, advice: Advice, folder: str, title: str = ""
) -> dict[str, str]:
  """pairs.csv, correlations.csv, validation.md, validation.png in `folder`."""
  os.makedirs(folder, exist_ok=True)
  paths = {
    "pairs": _write_csv(
      pair_rows(report, advice), os.path.join(folder, "pairs.csv")
    ),
    "correlations": _write_csv(
      [v.row() for v in report.scores],
      os.path.join(folder, "correlations.csv"),
    ),
    "validation_figure": figure(
      report, advice, os.path.join(folder, "validation.png")
    ),
    "validation_markdown": os.path.join(folder, "validation.md"),
  }
  with open(paths["validation_markdown"], "w") as fh:
    fh.write(markdown(report, advice, title))
  return paths
