"""report.md and its PNG figures for a reproduction workdir (no JAX)."""

import json
import os
from typing import Dict, List

from kd_ntk import distributed
from kd_ntk.reports import plots, tables


def _metric_rows(path: str) -> List[Dict]:
  if not os.path.exists(path):
    return []
  with open(path) as fh:
    return [json.loads(line) for line in fh if line.strip()]


def _finished(rows):
  return [r for r in rows if not r.get("diverged")]


def _per_method(results, student, key):
  return {m: [r.get(key) for r in _finished(rows)]
          for m, rows in results.get(student, {}).items()}


def _diverged(results) -> List[str]:
  return [f"{s}/{m} ({sum(bool(r.get('diverged')) for r in rows)} of {len(rows)} seeds)"
          for s, per in results.items() for m, rows in per.items()
          if any(r.get("diverged") for r in rows)]


def figures(workdir: str, students, methods, seeds, complexity_rows) -> List[str]:
  """Accuracy/fidelity curves per student, and the two ASC figures."""
  made = []
  for student in students:
    runs = {m: [_metric_rows(os.path.join(workdir, "students", student, m, f"seed{s}",
                                          "metrics.jsonl")) for s in seeds]
            for m in methods}
    for metric in ("test_accuracy", "train_fidelity_final"):
      made.append(plots.metric_vs_epoch(runs, metric, os.path.join(
          workdir, f"{metric}_{student}.png"), title=f"{student} (mean ± std over seeds)"))
  if complexity_rows:
    made.append(plots.asc_vs_teacher_epoch(complexity_rows, os.path.join(
        workdir, "asc_vs_teacher_epoch.png")))
    if len({r["student_epoch"] for r in complexity_rows}) > 1:
      made.append(plots.asc_vs_student_epoch(complexity_rows, os.path.join(
          workdir, "asc_vs_student_epoch.png")))
  return made


def write_report(summary: Dict, config, workdir: str) -> str:
  """Writes workdir/report.md (and figures); returns its path."""
  students, methods = list(config.students), list(config.methods)
  results, binary = summary["results"], summary["binary_results"]
  made = figures(workdir, students, methods, config.seeds, summary["complexity_rows"])
  teacher_final = summary["teacher_rows"][-1]
  lines = [
      "# kd_ntk reproduction report", "",
      f"Teacher `{config.teacher.model}`, {config.teacher.epochs} epochs, dataset "
      f"`{config.teacher.dataset}` (train subset {config.teacher.train_subset or 'all'}): "
      f"test accuracy {100 * teacher_final['test_accuracy']:.2f}%.",
      f"Students: {', '.join(students)}; {config.student_epochs} epochs; seeds "
      f"{tuple(config.seeds)}; α={config.alpha}; learning rate "
      f"{config.student_learning_rate} (lr_scale={config.lr_scale}). Wall time of the "
      f"last invocation: {summary['seconds'] / 60:.1f} min (finished runs are reused, "
      "not retrained).", "",
      "## Test accuracy (%), mean ± std over seeds", "",
      tables.results_table({s: _per_method(results, s, "test_accuracy") for s in students},
                           methods), "",
      "## Train fidelity with the final teacher (%), mean ± std", "",
      tables.results_table({s: _per_method(results, s, "train_fidelity_final")
                            for s in students}, methods), "",
      "## Student margin w.r.t. the final teacher's predictions (train), mean ± std", "",
      tables.results_table({s: _per_method(results, s, "train_margin_final")
                            for s in students}, methods, scale=1.0), "",
      f"## Binary task (classes {tuple(config.binary.classes)}), test accuracy (%)", "",
      f"Binary teacher: {100 * summary['binary_teacher_rows'][-1]['test_accuracy']:.2f}%.", "",
      tables.results_table({s: _per_method(binary, s, "test_accuracy") for s in binary},
                           list(config.binary.methods)), "",
  ]
  diverged = _diverged(results) + _diverged(binary)
  if diverged:
    lines += ["Diverged runs (excluded from the means above, not counted as "
              f"chance-level results): {', '.join(diverged)}.", ""]
  rows = summary["complexity_rows"]
  if rows:
    first = min(r["student_epoch"] for r in rows)
    lines += [f"## Supervision complexity under the student's NTK (student epoch {first:g}, "
              f"n={int(rows[0]['n'])})", "", tables.complexity_table(rows, first), ""]
  lines += ["## Claims (../shared/PAPER.md), as measured", ""]
  for v in summary["verdicts"]:
    status = {True: "PASS", False: "FAIL", None: "UNDECIDED"}[v["passed"]]
    lines.append(f"- **{v['claim']} {status}** — {v['prediction']}. Measured: "
                 f"`{json.dumps(v['numbers'])}`" + (f" ({v['note']})" if v["note"] else ""))
  lines += ["", "## Figures", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})"
                                     for p in made]
  path = os.path.join(workdir, "report.md")
  if not distributed.is_writer():  # Multi-process runs: process 0 writes.
    return path
  with open(path, "w") as fh:
    fh.write("\n".join(lines) + "\n")
  return path
