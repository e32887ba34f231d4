"""`run(config, workdir)`: supervision complexity of labels, random labels and
teacher checkpoints (at several temperatures) under a student's empirical NTK.

For every student kernel K (the student's NTK at a checkpoint, or at a fresh
initialisation) and every target matrix Y it records SC = tr(Yᵀ(K+λI)⁻¹Y),
ASC = (1/n)·sqrt(SC·tr K) and the solve's diagnostics in `complexity.csv`
(Harutyunyan et al., ICLR 2023, Sec. 3). Plots and the verdicts of claims
C1–C4 are written by `kd_ntk.analysis.claims` and `kd_ntk.reports`.
"""

import csv
import os
import time
from typing import Dict, Iterator, List, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from kd_ntk import complexity, distributed
from kd_ntk.configs import validation
from kd_ntk.data import class_balanced_subset, data_mesh
from kd_ntk.models import get_model, inference_fn, init_variables
from kd_ntk.ntk import empirical_ntk
from kd_ntk.train import checkpoint, runs
from kd_ntk.train.evaluation import predict_logits
from kd_ntk.train.from_config import splits_from_config

CSV_FILE = "complexity.csv"
BOUND_FILE = "bound.csv"


def _validate(config: ml_collections.ConfigDict) -> Tuple[List[int], List[int]]:
  """Checks the runs and epochs exist before any kernel is computed."""
  if not config.teacher_workdir:
    raise ValueError("config.teacher_workdir is required (a run of train_teacher.py).")
  teacher_epochs_saved = checkpoint.saved_epochs(config.teacher_workdir)
  if not teacher_epochs_saved:
    raise FileNotFoundError(f"{config.teacher_workdir} holds no teacher checkpoints.")
  teacher_epochs = list(config.teacher_epochs) or teacher_epochs_saved
  missing = sorted(set(teacher_epochs) - set(teacher_epochs_saved))
  if missing:
    raise ValueError(f"Teacher epochs {missing} are not saved in {config.teacher_workdir} "
                     f"(saved: {teacher_epochs_saved}).")
  if config.student_workdir:
    saved = checkpoint.saved_epochs(config.student_workdir)
    student_epochs = list(config.student_epochs) or saved
    missing = sorted(set(student_epochs) - set(saved))
    if missing:
      raise ValueError(f"Student epochs {missing} are not saved in "
                       f"{config.student_workdir} (saved: {saved}).")
  else:
    student_epochs = [0]
  if any(t <= 0 for t in config.temperatures):
    raise ValueError(f"temperatures must be positive; got {tuple(config.temperatures)}.")
  return teacher_epochs, student_epochs


def student_functions(config, num_classes: int, input_shape, epochs: List[int]
                      ) -> Iterator[Tuple[int, object, object]]:
  """Yields (student epoch, f(params, x), params) for each kernel to compute."""
  if config.student_workdir:
    _, model = runs.load_run(config.student_workdir, num_classes)
    for epoch in epochs:
      variables = runs.restore_variables(config.student_workdir, epoch, input_shape,
                                         num_classes=num_classes)
      f, params = inference_fn(model, variables)
      yield epoch, f, params
  else:
    kwargs = config.student_model_kwargs.to_dict()
    model = get_model(config.student_model, num_classes, **kwargs)
    variables = init_variables(model, jax.random.PRNGKey(config.student_seed), input_shape)
    f, params = inference_fn(model, variables)
    yield 0, f, params


def target_sets(config, labels: np.ndarray, num_classes: int,
                teacher_logits: Dict[int, np.ndarray]) -> Iterator[Tuple[Dict, np.ndarray]]:
  """Yields (description, Y) for labels, random labels and every (teacher epoch, τ)."""
  yield {"target": "labels"}, complexity.one_hot(labels, num_classes)
  yield ({"target": "random_labels"},
         complexity.random_labels(len(labels), num_classes, config.random_label_seed))
  for epoch, logits in sorted(teacher_logits.items()):
    for tau in config.temperatures:
      yield ({"target": "teacher", "teacher_epoch": epoch, "temperature": float(tau)},
             complexity.teacher_probabilities(logits, float(tau), config.centered))


def result_row(result) -> Dict:
  """The CSV columns of one ComplexityResult."""
  row = {k: v for k, v in result.as_dict().items() if np.isscalar(v) or v is None}
  for ridge, _, asc in result.ridge_path:
    row[f"asc_ridge_{ridge:g}"] = asc
  return row


def run(config: ml_collections.ConfigDict, workdir: str) -> List[Dict]:
  """Computes complexity.csv (and bound.csv for student runs) in `workdir`.

  Returns:
    The rows of complexity.csv.
  """
  validation.check_complexity_config(config, workdir)  # Before any kernel is computed.
  teacher_epochs, student_epochs = _validate(config)
  teacher_config, teacher_model = runs.load_run(config.teacher_workdir)
  splits = splits_from_config(teacher_config)
  info = splits.info
  subset = class_balanced_subset(splits.train_labels, config.num_examples,
                                 config.subset_seed, info.num_classes)
  x_sub, y_sub = splits.train_images[subset], splits.train_labels[subset]
  mesh = data_mesh()
  os.makedirs(workdir, exist_ok=True)
  print(f"[complexity] n={len(subset)} examples, {len(teacher_epochs)} teacher "
        f"checkpoints, {len(config.temperatures)} temperatures, student epochs "
        f"{student_epochs}", flush=True)

  teacher_logits = {}
  for epoch in teacher_epochs:
    variables = runs.restore_variables(config.teacher_workdir, epoch,
                                       info.image_shape, mesh, info.num_classes)
    teacher_logits[epoch] = predict_logits(teacher_model, variables, x_sub,
                                           config.eval_batch_size, mesh)
  final_teacher = teacher_logits.get(max(teacher_epochs))

  rows, bound_rows = [], []
  for student_epoch, f, params in student_functions(config, info.num_classes,
                                                    info.image_shape, student_epochs):
    start = time.time()
    gram = empirical_ntk(f, params, x_sub, output="trace", method=config.ntk_method,
                         block_size=config.ntk_block_size or None,
                         dtype=jnp.float64 if config.ntk_float64 else None,
                         progress=len(subset) >= 1024)
    gram = np.asarray(gram, np.float64)
    ntk_seconds = time.time() - start
    for description, targets in target_sets(config, y_sub, info.num_classes, teacher_logits):
      result = complexity.supervision_complexity(
          targets, gram, ridge=config.ridge, method=config.solver,
          ridge_path=tuple(config.ridge_path))
      rows.append({"student_epoch": student_epoch, "teacher_epoch": "",
                   "temperature": "", **description, **result_row(result),
                   "ntk_seconds": round(ntk_seconds, 3)})
      if description.get("temperature") == 1.0 and config.student_workdir and \
          description.get("teacher_epoch") == max(teacher_epochs):
        student_logits = _logits_in_chunks(f, params, x_sub, config.eval_batch_size)
        terms = complexity.bound_terms(student_logits, y_sub, final_teacher, sc=result.sc,
                                       trace_k=result.trace_k, n=len(y_sub),
                                       gamma=config.bound_gamma, delta=config.bound_delta)
        bound_rows.append({"student_epoch": student_epoch, **terms.as_dict()})
    labels_asc = next(r["asc"] for r in rows if r["student_epoch"] == student_epoch
                      and r["target"] == "labels")
    print(f"[complexity] student epoch {student_epoch}: NTK {ntk_seconds:.1f}s, "
          f"ASC(labels)={labels_asc:.3f}", flush=True)
  _write_csv(os.path.join(workdir, CSV_FILE), rows)
  if bound_rows:
    _write_csv(os.path.join(workdir, BOUND_FILE), bound_rows)
  return rows


def _logits_in_chunks(f, params, x, batch_size: int) -> np.ndarray:
  apply = jax.jit(f)
  return np.concatenate([np.asarray(apply(params, x[i:i + batch_size]))
                         for i in range(0, len(x), batch_size)])


def _write_csv(path: str, rows: List[Dict]) -> None:
  if not distributed.is_writer():  # Multi-process runs: process 0 writes.
    return
  columns = list(dict.fromkeys(k for row in rows for k in row))
  with open(path, "w", newline="") as fh:
    writer = csv.DictWriter(fh, columns)
    writer.writeheader()
    writer.writerows(rows)


def read_csv(path: str) -> List[Dict]:
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
