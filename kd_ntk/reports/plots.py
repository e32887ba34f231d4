"""PNG plots of complexity.csv and metrics.jsonl rows.

Figures are matplotlib `Figure` objects saved through their own Agg canvas:
no pyplot, so importing this module leaves the caller's backend alone.
"""

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kd_ntk import distributed
from kd_ntk.science import stats
from kd_ntk.science.c3_trajectory import online_teacher_epoch


def _save(fig, path: str) -> str:
  """Writes the figure (process 0 alone when multi-process); returns `path`."""
  if not distributed.is_writer():
    return path
  fig.tight_layout()
  fig.savefig(path, dpi=120, bbox_inches="tight")  # Keeps an outside legend.
  return path


def _subset_means(rows: list[dict], **match) -> list[float]:
  """ASC per NTK subset of the rows matching every field (draws averaged)."""
  groups: dict[int, list[float]] = {}
  for r in rows:
    if (
      all(r.get(k) == v for k, v in match.items()) and r.get("asc") is not None
    ):
      subset = int(r.get("subset") or 0)
      groups.setdefault(subset, []).append(float(r["asc"]))
  return [float(np.mean(v)) for _, v in sorted(groups.items())]


def _mean_and_error(values: list[float]):
  """(mean, half-width of the 95% t-interval; 0 for one value)."""
  if len(values) < 2:
    return float(values[0]), 0.0
  mean, low, _ = stats.t_interval(values)
  return mean, mean - low


def _finish(ax, xlabel: str, title: str) -> None:
  """Integer ticks on the epoch axis, the legend outside the data, the title."""
  ax.xaxis.set_major_locator(MaxNLocator(integer=True))
  ax.set_xlabel(xlabel)
  ax.set_ylabel("adjusted supervision complexity")
  if title:
    ax.set_title(title, fontsize=9)
  ax.legend(
    fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0
  )


def complexity_title(student: str, kernel: str, rows: list[dict]) -> str:
  """ "ASC under <student>'s <kernel> NTK, n = <n> (<k> subsets, mean ± CI)"."""
  ns = sorted(
    {int(float(r["n"])) for r in rows if r.get("n") not in (None, "")}
  )
  subsets = len({int(r.get("subset") or 0) for r in rows})
  n = "/".join(str(v) for v in ns) or "?"
  return (
    f"ASC under {student}'s {kernel} kernel, n = {n} "
    f"({subsets} subset{'s' if subsets != 1 else ''}; mean ± 95% CI)"
  )


def asc_vs_teacher_epoch(
  rows: list[dict], path: str, student_epoch=None, title: str = ""
) -> str:
  """ASC of teacher checkpoint t against t, one line per τ, with the mean and
  95% t-interval bars over NTK subsets; labels and random labels as horizontal
  lines with their interval as a band (one student kernel)."""
  if student_epoch is None:
    student_epoch = min(r["student_epoch"] for r in rows)
  rows = [r for r in rows if r["student_epoch"] == student_epoch]
  fig = Figure(figsize=(7.5, 4))
  ax = fig.subplots()
  for tau in sorted(
    {r["temperature"] for r in rows if r["target"] == "teacher"}
  ):
    epochs = sorted(
      {
        r["teacher_epoch"]
        for r in rows
        if r["target"] == "teacher" and r["temperature"] == tau
      }
    )
    points = [
      _mean_and_error(
        _subset_means(
          rows, target="teacher", temperature=tau, teacher_epoch=epoch
        )
      )
      for epoch in epochs
    ]
    means, errors = zip(*points)
    ax.errorbar(
      epochs,
      means,
      yerr=errors,
      marker="o",
      capsize=3,
      label=f"teacher, τ={tau:g}",
    )
  for target, style in (("labels", "--"), ("random_labels", ":")):
    values = _subset_means(rows, target=target)
    if values:
      mean, error = _mean_and_error(values)
      line = ax.axhline(
        mean, color="k", linestyle=style, label=target.replace("_", " ")
      )
      if error:
        ax.axhspan(
          mean - error, mean + error, color=line.get_color(), alpha=0.1
        )
  _finish(
    ax,
    "teacher checkpoint (epoch)",
    title
    or f"Targets under the student's NTK (student epoch {student_epoch:g})",
  )
  return _save(fig, path)


def student_epoch_series(
  rows: list[dict], online: bool = True
) -> dict[str, list[tuple[float, float, float]]]:
  """{target kind: [(student epoch, mean ASC, 95% half-width), ...]} over NTK
  subsets: random labels, labels, the final ("offline") teacher at τ = 1
  and, when `online`, the online teacher (checkpoint ⌈e·T/E⌉ at student epoch
  e, `c3_trajectory.online_teacher_epoch`)."""
  epochs = sorted({r["student_epoch"] for r in rows})
  final = max(r["teacher_epoch"] for r in rows if r["target"] == "teacher")
  series = {
    "random labels": lambda e: dict(student_epoch=e, target="random_labels"),
    "labels": lambda e: dict(student_epoch=e, target="labels"),
    "offline teacher": lambda e: dict(
      student_epoch=e, target="teacher", teacher_epoch=final, temperature=1.0
    ),
  }
  if online:
    last = epochs[-1] or 1
    series["online teacher"] = lambda e: dict(
      student_epoch=e,
      target="teacher",
      teacher_epoch=online_teacher_epoch(e, final, last),
      temperature=1.0,
    )
  out = {}
  for name, match in series.items():
    points = [
      (e, *_mean_and_error(values))
      for e in epochs
      if (values := _subset_means(rows, **match(e)))
    ]
    if points:
      out[name] = points
  return out


def asc_vs_student_epoch(
  rows: list[dict], path: str, online: bool = True, title: str = ""
) -> str:
  """ASC against the student epoch whose NTK is used, per target kind (the
  paper's figure; `student_epoch_series`), with 95% t-interval bars over NTK
  subsets."""
  fig = Figure(figsize=(7.5, 4))
  ax = fig.subplots()
  for name, points in student_epoch_series(rows, online).items():
    xs, means, errors = zip(*points)
    ax.errorbar(xs, means, yerr=errors, marker="o", capsize=3, label=name)
  _finish(ax, "student epoch (NTK taken at this checkpoint)", title)
  return _save(fig, path)


def metric_vs_epoch(
  runs: dict[str, Sequence[list[dict]]], metric: str, path: str, title: str = ""
) -> str:
  """Mean (± std band over seeds) of `metric` against epoch, one line per
  method.

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
