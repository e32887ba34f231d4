"""report.md of a complexity run: what was scored, ASC by target with its spread
over NTK subsets (raw and norm-matched), the claims' verdicts, the files
written.

Per target (labels, random labels, each teacher checkpoint and τ), kernel and
student epoch, the random-label draws of a subset are averaged, then the
subsets give the mean and a 95% Student-t interval (`kd_ntk.scoring.Interval`);
norm-matched ASC is `ASC · sqrt(n)/‖Y‖_F` (`kd_ntk.scoring.norm_matched`).
"""

import os

import numpy as np

from kd_ntk.science.verdicts import format_verdict
from kd_ntk.scoring import Interval

REPORT_FILE = "report.md"

# What a complexity run may write into its workdir, in the order listed.
FILES = {
  "config.json": "the config of this run (a different config is refused here)",
  "complexity.csv": "one row per kernel, subset, student epoch and target: "
  "ASC, SC, norm-matched ASC, ‖Y‖_F, ridge diagnostics",
  "bound.csv": "margin-bound terms of the student's checkpoints (student runs)",
  "asc_vs_teacher_epoch.png": "ASC against teacher checkpoint, per τ",
  "asc_vs_student_epoch.png": "ASC along the student's training (student runs)",
  "verdicts.json": "claims C1–C4 (and C2n, C4n) with their intervals",
  "kernel_agreement.json": "rank agreement between kernels (several kernels)",
  "kernel_agreement.md": "the same, as a table",
  "asc_vs_teacher_epoch_by_kernel.png": "ASC per kernel (several kernels)",
  "report.md": "this report",
  "run.lock": "the owner of the run that last held this folder (its lock)",
}


def _blank(value) -> float | None:
  return None if value in (None, "") else float(value)


def summary_rows(rows: list[dict]) -> list[dict]:
  """One row per (kernel, student epoch, target, checkpoint, τ) with the mean
  and 95% interval over subsets of ASC and norm-matched ASC."""
  groups: dict[tuple, dict[int, list[dict]]] = {}
  for r in rows:
    key = (
      r.get("kernel", "empirical"),
      float(r.get("student_epoch") or 0),
      r["target"],
      _blank(r.get("teacher_epoch")),
      _blank(r.get("temperature")),
    )
    subset = int(float(r.get("subset") or 0))
    groups.setdefault(key, {}).setdefault(subset, []).append(r)
  out = []
  for key, by_subset in groups.items():

    def per_subset(column):
      values = []
      for group in by_subset.values():
        cells = [_blank(r.get(column)) for r in group]
        if all(c is not None for c in cells):
          values.append(float(np.mean(cells)))
      return Interval.of(values)

    norms = [
      _blank(r.get("target_norm")) for g in by_subset.values() for r in g
    ]
    out.append(
      {
        "kernel": key[0],
        "student_epoch": key[1],
        "target": key[2],
        "teacher_epoch": key[3],
        "temperature": key[4],
        "asc": per_subset("asc"),
        "asc_norm_matched": per_subset("asc_norm_matched"),
        "target_norm": (
          float(np.mean(norms)) if all(v is not None for v in norms) else None
        ),
        "ridge_dominated": sum(
          str(r.get("ridge_dominated")) == "True"
          for g in by_subset.values()
          for r in g
        ),
      }
    )
  return out


def _number(value) -> str:
  return "" if value is None else f"{value:g}"


def markdown(config, rows: list[dict], verdicts: list[dict], files) -> str:
  """The report's text (see the module docstring)."""
  student = (
    f"checkpoints of {config.student_workdir}"
    if config.get("student_workdir")
    else f"{config.student_model} {dict(config.student_model_kwargs)} at "
    f"initialisation (seed {config.student_seed})"
  )
  n = rows[0].get("n") if rows else None
  subsets = len({r.get("subset") for r in rows})
  lines = [
    "# Supervision complexity of a teacher's targets under a student's kernel",
    "",
    f"- teacher: `{config.teacher_workdir}`",
    f"- student: {student}",
    f"- kernel(s): {config.kernel}; n = {_number(n)} per subset, "
    f"{subsets} NTK subset(s), {config.num_random_draws} random-label "
    f"draw(s) per subset",
    f"- temperatures τ: {tuple(config.temperatures)}; relative ridge "
    f"{config.ridge:g} (λ = ridge · tr K / n)",
    "",
    "ASC = (1/n)·sqrt(SC·tr K), SC = tr(Yᵀ(K+λI)⁻¹Y); norm-matched ASC = "
    "ASC·sqrt(n)/‖Y‖_F. Mean [95% t-interval over subsets].",
    "",
    "| kernel | student epoch | target | checkpoint | τ | ASC | ASC norm-matched "
    "| ‖Y‖_F | ridge-dominated |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for s in summary_rows(rows):
    lines.append(
      f"| {s['kernel']} | {_number(s['student_epoch'])} | {s['target']} | "
      f"{_number(s['teacher_epoch'])} | {_number(s['temperature'])} | "
      f"{s['asc']} | {s['asc_norm_matched']} | "
      f"{'' if s['target_norm'] is None else format(s['target_norm'], '.4g')} | "
      f"{s['ridge_dominated']} |"
    )
  lines += ["", "## Claims C1–C4 (first kernel)", ""]
  lines += [f"- {format_verdict(v)}" for v in verdicts]
  lines += ["", "## Files in this folder", ""]
  lines += [f"- `{name}`: {FILES[name]}" for name in files]
  return "\n".join(lines) + "\n"


def write_report(
  config, rows: list[dict], verdicts: list[dict], workdir
) -> str:
  """Writes report.md (listing the files) into `workdir`; returns its path."""
  present = [
    name
    for name in FILES
    if name == REPORT_FILE or os.path.exists(os.path.join(workdir, name))
  ]
  path = os.path.join(workdir, REPORT_FILE)
  with open(path, "w") as fh:
    fh.write(markdown(config, rows, verdicts, present))
  return path
