"""`run(config, workdir)`: supervision complexity of labels, random labels and
teacher checkpoints (at several temperatures) under one or more student kernels.

For every kernel K (`config.kernel`: the student's empirical NTK at a checkpoint
or at initialisation, neural-tangents' empirical NTK, the Monte-Carlo NTK over
initialisations, the infinite-width NTK or NNGP of its stax twin; see
`kd_ntk.ntk.kernel_choice`), every NTK subset s (`config.num_subsets`
class-balanced subsets of n examples) and every target matrix Y it records

    SC = tr(Yᵀ(K+λI)⁻¹Y),   ASC = (1/n)·sqrt(SC·tr K)

and the solve's diagnostics in `complexity.csv` (Harutyunyan et al., ICLR 2023,
Sec. 3). Rows come in one block per kernel, and carry `kernel`, `kernel_note`
(the approximation, if any), `subset` and `draw` (the random-label draw; 0 on
other rows). Kernels of the initialisation distribution ("monte_carlo",
"infinite", "nngp") are computed once per subset and recorded at student epoch
0.
"""

import contextlib
import csv
import json
import os
import time

import ml_collections
import numpy as np

from kd_ntk import complexity, distributed, scoring
from kd_ntk.experiment import kernel_agreement
from kd_ntk.reports import complexity_report
from kd_ntk.science import claims
from kd_ntk.experiment import complexity_inputs as inputs
from kd_ntk.experiment import preflight
from kd_ntk.data import data_mesh
from kd_ntk.ntk import kernel_choice
from kd_ntk.reports import plots
from kd_ntk.train import lock, workdir as wd
from kd_ntk.train.from_config import splits_from_config

CSV_FILE = "complexity.csv"
BOUND_FILE = "bound.csv"


def result_row(result) -> dict:
  """The CSV columns of one ComplexityResult."""
  row = {
    k: v for k, v in result.as_dict().items() if np.isscalar(v) or v is None
  }
  for ridge, _, asc in result.ridge_path:
    row[f"asc_ridge_{ridge:g}"] = asc
  return row


def score_columns(score: scoring.Score) -> dict:
  """The CSV columns of one `kd_ntk.scoring.Score`: what was scored, the
  solve's columns, ‖Y‖_F (`target_norm`) and `asc_norm_matched`."""
  blank = lambda v: "" if v is None else v
  return {
    "teacher_epoch": blank(score.checkpoint),
    "temperature": blank(score.temperature),
    "target": score.target,
    "draw": score.draw,
    **result_row(score.result),
    "target_norm": score.target_norm,
    "asc_norm_matched": score.asc_norm_matched,
  }


def run(
  config: ml_collections.ConfigDict,
  workdir: str,
  checkpoints: inputs.StudentCheckpoints | None = None,
  *,
  checked: tuple | None = None,
) -> list[dict]:
  """Computes complexity.csv (and bound.csv for student runs) in `workdir`.

  Args:
    checkpoints: the student's network, shared by several runs of the same
      student (e.g. subsets), so its kernels compile once; None builds it.
    checked: what `preflight.check_complexity_config` returned for a config
      that differs from this one only in its subset seeds (the subsets of one
      reproduction); then only the workdir is checked here.

  Returns:
    The rows of complexity.csv.

  Raises:
    ValueError: a bad config, or `workdir` holding a run of another config or
      in use by another process; before anything is written.
  """
  # Every check, before any kernel: the epochs and kernels to compute.
  if checked is None:
    checked = preflight.check_complexity_config(config, workdir)
  else:
    wd.check_writable(workdir)
  teacher_epochs, student_epochs, kernels = checked
  teacher_config, teacher_model = inputs.load_run(config.teacher_workdir)
  splits = splits_from_config(teacher_config)
  subsets = inputs.ntk_subsets(
    splits.train_labels,
    config.num_examples,
    num_subsets=config.num_subsets,
    seed=config.subset_seed,
    num_classes=splits.info.num_classes,
  )
  writer = distributed.is_writer()
  if writer:  # One run per workdir: locked, then config.json claimed.
    wd.check_writable(workdir)
    os.makedirs(workdir, exist_ok=True)
  with lock.held(workdir) if writer else contextlib.nullcontext():
    wd.claim(workdir, config, write=writer)  # A different config is refused.
    return _compute(
      config,
      workdir,
      checkpoints=checkpoints,
      plan=(teacher_epochs, student_epochs, kernels),
      data=(teacher_model, splits, subsets),
    )


def _compute(config, workdir, *, checkpoints, plan, data) -> list[dict]:
  """`run`'s kernels and scores, once the workdir is claimed."""
  teacher_epochs, student_epochs, kernels = plan
  teacher_model, splits, subsets = data
  info = splits.info
  mesh = data_mesh()
  options = kernel_choice.GramOptions.from_config(config)
  print(
    f"[complexity] kernels {kernels}, {len(subsets)} subsets of n={config.num_examples}, "
    f"{len(teacher_epochs)} teacher checkpoints, {len(config.temperatures)} "
    f"temperatures, student epochs {student_epochs}",
    flush=True,
  )
  logits = [
    inputs.teacher_logits(
      config,
      teacher_epochs,
      model=teacher_model,
      images=splits.train_images[idx],
      info=info,
      mesh=mesh,
    )
    for idx in subsets
  ]

  if checkpoints is None:
    checkpoints = inputs.StudentCheckpoints(
      config, info.num_classes, info.image_shape
    )
  rows, bound_rows = [], []
  for kernel in kernels:
    epochs = (
      [min(student_epochs)]
      if kernel in kernel_choice.INIT_KERNELS
      else student_epochs
    )
    for s, idx in enumerate(subsets):
      x_sub, y_sub = splits.train_images[idx], splits.train_labels[idx]
      for student_epoch, student in checkpoints.at(epochs):
        if kernel in kernel_choice.INIT_KERNELS:
          student_epoch = 0
        start = time.time()
        gram = kernel_choice.gram_matrix(kernel, student, x_sub, options)
        seconds = time.time() - start
        note = kernel_choice.kernel_note(
          kernel, student.name, config.twin_parameterization
        )
        scores = scoring.score_gram(
          gram,
          labels=y_sub,
          logits=logits[s],
          temperatures=config.temperatures,
          random_label_draws=config.num_random_draws,
          num_classes=info.num_classes,
          subset=s,
          seed=config.random_label_seed,
          centered=config.centered,
          ridge=config.ridge,
          ridge_path=config.ridge_path,
          solver=config.solver,
        )
        labels_asc = scores[0].asc
        for score in scores:
          rows.append(
            {
              "kernel": kernel,
              "subset": s,
              "student_epoch": student_epoch,
              **score_columns(score),
              "ntk_seconds": round(seconds, 3),
              "kernel_note": note,
            }
          )
        final = (max(teacher_epochs), 1.0)
        bound_result = next(
          (
            sc.result
            for sc in scores
            if (sc.checkpoint, sc.temperature) == final
          ),
          None,
        )
        if (
          kernel == "empirical"
          and config.student_workdir
          and bound_result is not None
        ):
          student_logits = inputs.logits_in_chunks(
            student.f, student.params, x_sub, config.eval_batch_size
          )
          terms = complexity.bound_terms(
            student_logits,
            y_sub,
            logits[s][max(teacher_epochs)],
            sc=bound_result.sc,
            trace_k=bound_result.trace_k,
            n=len(y_sub),
            gamma=config.bound_gamma,
            delta=config.bound_delta,
          )
          bound_rows.append(
            {"subset": s, "student_epoch": student_epoch, **terms.as_dict()}
          )
        print(
          f"[complexity] {kernel}, subset {s}, student epoch {student_epoch}: "
          f"kernel {seconds:.1f}s, ASC(labels)={labels_asc:.3f}",
          flush=True,
        )
  _write_csv(os.path.join(workdir, CSV_FILE), rows)
  if bound_rows:
    _write_csv(os.path.join(workdir, BOUND_FILE), bound_rows)
  return rows


def write_outputs(rows: list[dict], workdir: str) -> list[dict]:
  """Figures and verdicts of a run's rows, in `workdir`.

  The single-kernel outputs (asc_vs_teacher_epoch.png, the student-epoch
  figure, verdicts.json with `claims.complexity_verdicts`) use the first
  kernel, every subset and draw; with several kernels, also
  asc_vs_teacher_epoch_by_kernel.png and kernel_agreement.json/.md; then
  report.md (`complexity_report`), which lists every file written. Returns the
  verdicts. Holds the workdir's lock while it writes (as `run` does).
  """
  writer = distributed.is_writer()
  with lock.held(workdir) if writer else contextlib.nullcontext():
    return _write_outputs(rows, workdir)


def _write_outputs(rows: list[dict], workdir: str) -> list[dict]:
  config = wd.load_config(workdir)  # Written by `run`.
  kernels = kernel_agreement.kernels_of(rows)
  # The claims take their spread over subsets (and average the draws).
  first = [r for r in rows if r.get("kernel", "empirical") == kernels[0]]
  student = (
    os.path.basename(os.path.normpath(config.student_workdir))
    if config.get("student_workdir")
    else config.student_model
  )
  plots.asc_vs_teacher_epoch(
    first,
    os.path.join(workdir, "asc_vs_teacher_epoch.png"),
    title=plots.complexity_title(student, kernels[0], first),
  )
  if len({r["student_epoch"] for r in first}) > 1:
    plots.asc_vs_student_epoch(
      first, os.path.join(workdir, "asc_vs_student_epoch.png")
    )
  verdicts = claims.complexity_verdicts(first)
  if distributed.is_writer():  # Multi-process runs: process 0 writes.
    with open(os.path.join(workdir, "verdicts.json"), "w") as fh:
      json.dump(verdicts, fh, indent=2)
  if len(kernels) > 1:
    kernel_agreement.plot_by_kernel(
      rows, os.path.join(workdir, kernel_agreement.FIGURE)
    )
    report = kernel_agreement.write_agreement(rows, workdir)
    print(kernel_agreement.agreement_markdown(report), flush=True)
  if distributed.is_writer():
    path = complexity_report.write_report(config, rows, verdicts, workdir)
    print(f"[complexity] wrote {path}", flush=True)
  return verdicts


def _write_csv(path: str, rows: list[dict]) -> None:
  if not distributed.is_writer():  # Multi-process runs: process 0 writes.
    return
  columns = list(dict.fromkeys(k for row in rows for k in row))
  with open(path, "w", newline="") as fh:
    writer = csv.DictWriter(fh, columns)
    writer.writeheader()
    writer.writerows(rows)


def read_csv(path: str) -> list[dict]:
  """Rows of a CSV written by `run`, numbers parsed back to float."""

  def parse(value):
    if value in ("", None):
      return None
    if value in ("True", "False"):
      return value == "True"
    try:
      return float(value)
    except ValueError:
      return value

  with open(path) as fh:
    return [{k: parse(v) for k, v in row.items()} for row in csv.DictReader(fh)]
