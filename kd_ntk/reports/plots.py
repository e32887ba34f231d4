"""PNG plots of complexity.csv and metrics.jsonl rows.

Figures are matplotlib `Figure` objects saved through their own Agg canvas:
no pyplot, so importing this module leaves the caller's backend alone.
"""

from typing import Dict, List, Sequence

import numpy as np
from matplotlib.figure import Figure

from kd_ntk import distributed


def _save(fig, path: str) -> str:
  """Writes the figure (process 0 alone in a multi-process run); returns `path`."""
  if not distributed.is_writer():
    return path
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  return path


def asc_vs_teacher_epoch(
  rows: List[Dict], path: str, student_epoch=None
) -> str:
  """ASC of teacher checkpoint t against t, one line per τ; labels and random
  labels as horizontal reference lines (one student kernel)."""
  if student_epoch is None:
    student_epoch = min(r["student_epoch"] for r in rows)
  rows = [r for r in rows if r["student_epoch"] == student_epoch]
  fig = Figure(figsize=(6, 4))
  ax = fig.subplots()
  for tau in sorted(
    {r["temperature"] for r in rows if r["target"] == "teacher"}
  ):
    pts = sorted(
      (r["teacher_epoch"], r["asc"])
      for r in rows
      if r["target"] == "teacher" and r["temperature"] == tau
    )
    ax.plot(*zip(*pts), marker="o", label=f"teacher, τ={tau:g}")
  for target, style in (("labels", "--"), ("random_labels", ":")):
    value = [r["asc"] for r in rows if r["target"] == target]
    if value:
      ax.axhline(
        value[0], color="k", linestyle=style, label=target.replace("_", " ")
      )
  ax.set_xlabel("teacher checkpoint (epoch)")
  ax.set_ylabel("adjusted supervision complexity")
  ax.set_title(
    f"Targets under the student's NTK (student epoch {student_epoch:g})"
  )
  ax.legend(fontsize=8)
  return _save(fig, path)


def asc_vs_student_epoch(
  rows: List[Dict], path: str, online: bool = True
) -> str:
  """ASC against the student epoch whose NTK is used, per target kind (the
  paper's figure): random labels, labels, final teacher (τ=1) and, when
  `online`, teacher checkpoint t at student epoch t."""
  epochs = sorted({r["student_epoch"] for r in rows})
  final = max(r["teacher_epoch"] for r in rows if r["target"] == "teacher")
  series = {
    "random labels": lambda e: _find(
      rows, student_epoch=e, target="random_labels"
    ),
    "labels": lambda e: _find(rows, student_epoch=e, target="labels"),
    "offline teacher": lambda e: _find(
      rows,
      student_epoch=e,
      target="teacher",
      teacher_epoch=final,
      temperature=1.0,
    ),
  }
  if online:
    series["online teacher"] = lambda e: _find(
      rows, student_epoch=e, target="teacher", teacher_epoch=e, temperature=1.0
    )
  fig = Figure(figsize=(6, 4))
  ax = fig.subplots()
  for name, get in series.items():
    pts = [(e, get(e)) for e in epochs if get(e) is not None]
    if pts:
      ax.plot(*zip(*pts), marker="o", label=name)
  ax.set_xlabel("student epoch (NTK taken at this checkpoint)")
  ax.set_ylabel("adjusted supervision complexity")
  ax.legend(fontsize=8)
  return _save(fig, path)


def _find(rows, **match):
  for r in rows:
    if all(r.get(k) == v for k, v in match.items()):
      return r["asc"]
  return None


def metric_vs_epoch(
  runs: Dict[str, Sequence[List[Dict]]], metric: str, path: str, title: str = ""
) -> str:
  """Mean (± std band over seeds) of `metric` against epoch, one line per method.

  Args:
    runs: method name -> list (one per seed) of metrics.jsonl rows.
  """
  fig = Figure(figsize=(6, 4))
  ax = fig.subplots()
  for method, seeds in runs.items():
    per_seed = [
      {r["epoch"]: r[metric] for r in rows if r.get(metric) is not None}
      for rows in seeds
    ]
    epochs = (
      sorted(set.intersection(*(set(s) for s in per_seed))) if per_seed else []
    )
    if not epochs:
      continue
    values = np.array([[s[e] for e in epochs] for s in per_seed])
    mean, std = values.mean(0), values.std(0)
    ax.plot(epochs, mean, marker=".", label=method)
    ax.fill_between(epochs, mean - std, mean + std, alpha=0.2)
  ax.set_xlabel("epoch")
  ax.set_ylabel(metric.replace("_", " "))
  ax.set_title(title)
  ax.legend(fontsize=7)
  return _save(fig, path)
