"""The advice as files: a CSV of every pair, a Markdown table, a figure.

The figure uses matplotlib's `Figure` with its own Agg canvas (no pyplot), as
`kd_ntk.reports.plots` does.
"""

import csv
import os
from collections.abc import Sequence

from matplotlib.figure import Figure

from kd_ntk.advisor.records import SCORES, Advice

CSV_FILE = "advice.csv"
MARKDOWN_FILE = "advice.md"
FIGURE_FILE = "advice.png"
# Columns of the Markdown table, with their headers.
TABLE_COLUMNS = (
  ("rank", "rank"),
  ("epoch", "t"),
  ("temperature", "τ"),
  ("krr_accuracy", "KRR acc"),
  ("krr_margin_loss", "KRR margin loss"),
  ("asc", "ASC"),
  ("asc_norm_matched", "ASC (norm-matched)"),
  ("bound_total", "bound"),
  ("grace", "GRACE"),
  ("teacher_accuracy", "teacher acc"),
)


def write_csv(advice: Advice, path: str) -> str:
  """One row per pair, in rank order; returns `path`."""
  rows = advice.rows()
  with open(path, "w", newline="") as fh:
    writer = csv.DictWriter(fh, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return path


def _cell(value) -> str:
  if isinstance(value, bool):
    return "yes" if value else ""
  if isinstance(value, int):
    return str(value)
  return f"{value:.4g}"


def markdown(advice: Advice, limit: int = 0) -> str:
  """The ranked table (all pairs, or the first `limit`) and the advice."""
  rec = advice.recommended
  lines = [
    f"Recommended for student `{advice.student}`: checkpoint {rec.epoch} at "
    f"τ = {rec.temperature:g} (ranked by `{advice.decision}`: "
    f"{SCORES[advice.decision][1]}; n = {advice.n_train} kernel examples, "
    f"{advice.n_validation} validation examples).",
    "",
    "| " + " | ".join(h for _, h in TABLE_COLUMNS) + " |",
    "|" + "---|" * len(TABLE_COLUMNS),
  ]
  shown = advice.scores[:limit] if limit else advice.scores
  for s in shown:
    lines.append(
      "| " + " | ".join(_cell(getattr(s, c)) for c, _ in TABLE_COLUMNS) + " |"
    )
  return "\n".join(lines) + "\n"


def figure(
  advice: Advice,
  path: str,
  columns: Sequence[str] = (
    "krr_accuracy",
    "asc_norm_matched",
    "grace",
    "teacher_accuracy",
  ),
) -> str:
  """One panel per score against the checkpoint, one line per τ; the
  recommended pair is circled."""
  fig = Figure(figsize=(3.2 * len(columns), 3.2))
  axes = fig.subplots(1, len(columns), squeeze=False)[0]
  temperatures = sorted({s.temperature for s in advice.scores})
  rec = advice.recommended
  for ax, column in zip(axes, columns):
    for tau in temperatures:
      points = sorted(
        (s.epoch, getattr(s, column))
        for s in advice.scores
        if s.temperature == tau
      )
      ax.plot(*zip(*points), marker="o", ms=3, label=f"τ={tau:g}")
    ax.plot(
      [rec.epoch],
      [getattr(rec, column)],
      "o",
      ms=12,
      mfc="none",
      mec="k",
      label="advised",
    )
    direction = "higher" if SCORES[column][0] > 0 else "lower"
    ax.set_title(f"{column} ({direction} is better)", fontsize=8)
    ax.set_xlabel("teacher checkpoint")
  axes[0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  return path


def write_all(advice: Advice, folder: str) -> dict[str, str]:
  """advice.csv, advice.md and advice.png in `folder`; returns their paths."""
  os.makedirs(folder, exist_ok=True)
  paths = {
    "csv": write_csv(advice, os.path.join(folder, CSV_FILE)),
    "figure": figure(advice, os.path.join(folder, FIGURE_FILE)),
  }
  paths["markdown"] = os.path.join(folder, MARKDOWN_FILE)
  with open(paths["markdown"], "w") as fh:
    fh.write(markdown(advice))
  return paths
