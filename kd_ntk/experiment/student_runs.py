"""Student runs of a reproduction and their per-seed result rows.

`student_config` turns (teacher config, Student, TeachingMethod, seed) into a
distill.py config; `run_grid` runs or resumes every run and returns one result
row per (student, method, seed), carrying the record fields. After each run the
margin loss at γ w.r.t. the final teacher's predicted labels, the bound's term
(`kd_ntk.complexity.bound`), is computed on the run's fixed training-evaluation
subset from the final checkpoints:

  margin loss = (1/N) Σ_i 1[ρ_S(x_i, ŷ_T(x_i)) ≤ γ],  ŷ_T = argmax z_T,
  ρ_S(x, y) = z_S(x)_y − max_{y' ≠ y} z_S(x)_{y'}.

Every run of one `run_grid` (and of one `run_slice`) shares a
`kd_ntk.distill.seed_grid.Shared`: the data, the teacher's checkpoints and its
logits, and one compiled step per distinct student, so a grid cell's seeds pay
set-up and compilation once. The margin loss then reads the teacher's logits
from it as well. Each run's records and result row are those of the run made
alone (`one_process=False` makes every run alone, as before the grid path;
tests/distill/test_seed_grid.py compares the two).
"""

import os
import time
from typing import Dict, List, Optional, Sequence

import ml_collections
import numpy as np

from kd_ntk import metrics
from kd_ntk.grid.layout import Layout
from kd_ntk.grid.records import Student, TeachingMethod, result_row
from kd_ntk.configs import distill as distill_config
from kd_ntk.data import class_balanced_subset, data_mesh
from kd_ntk.distill import loop as distill_loop
from kd_ntk.distill.seed_grid import Shared
from kd_ntk.train import runs
from kd_ntk.train.evaluation import predict_logits
from kd_ntk.train.from_config import splits_from_config, with_data_fields

# Fields a student copies from its teacher's config, so both see the same data.
COPIED_FROM_TEACHER = (
  "dataset",
  "data_dir",
  "data_source",
  "train_subset",
  "subset_seed",
  "test_subset",
  "classes",
  "batch_size",
  "eval_batch_size",
)
# Final-epoch metrics kept in every result row (test numbers reported once, here).
KEPT = (
  "test_accuracy",
  "test_loss",
  "train_accuracy",
  "train_fidelity_final",
  "train_margin_final",
  "test_fidelity_final",
  "train_kl_final",
  "teacher_epoch",
)


def student_config(
  run: ml_collections.ConfigDict,
  teacher_cfg,
  teacher_dir: str,
  student: Student,
  method: TeachingMethod,
  seed: int,
  early_epoch: Optional[int] = None,
) -> ml_collections.ConfigDict:
  """The distill.py config of one (student, method, seed) run.

  Args:
    run: the reproduction config's `students_run` block (epochs, lr, schedule, ...).
    early_epoch: the validation-chosen checkpoint (mode "early" only).
  """
  c = distill_config.get_config(method.mode)
  for key in COPIED_FROM_TEACHER:
    c[key] = teacher_cfg[key]
  c.augment = ml_collections.ConfigDict(teacher_cfg.augment.to_dict())
  c.model, kwargs = student.model()
  c.model_kwargs = ml_collections.ConfigDict(kwargs)
  c.seed, c.epochs = int(seed), int(run.epochs)
  c.optimizer.learning_rate = run.learning_rate
  c.optimizer.schedule = run.schedule
  c.optimizer.warmup_epochs = float(run.get("warmup_epochs", 0.0))
  # A cosine to a floor after a constant phase (0, 0: the plain cosine).
  c.optimizer.lr_floor = float(run.get("lr_floor", 0.0))
  c.optimizer.decay_start = float(run.get("decay_start", 0.0))
  c.train_eval_size = run.train_eval_size
  every = int(run.get("eval_every", 1))
  if every != 1:  # Absent from the config (as before the field) at 1.
    c.eval_every = every
  d = c.distill
  d.teacher_workdir = os.path.abspath(teacher_dir)
  d.alpha = method.alpha
  d.lr_scale = run.lr_scale
  if method.temperature is not None:
    d.temperature = d.temperature_start = float(method.temperature)
  if method.mode == "early":
    if early_epoch is None:
      raise ValueError("mode 'early' needs the validation-chosen checkpoint.")
    d.early_epoch = int(early_epoch)
  return c


class Progress:
  """One line per run with elapsed time and an estimate of the time left."""

  def __init__(self, total: int):
    self.total, self.done, self.start = total, 0, time.time()

  def next(self, label: str) -> None:
    self.done += 1
    elapsed = time.time() - self.start
    eta = (
      elapsed / (self.done - 1) * (self.total - self.done + 1)
      if self.done > 1
      else 0
    )
    print(
      f"[reproduce] run {self.done}/{self.total} {label} (elapsed {elapsed:.0f}s, "
      f"eta {eta:.0f}s)",
      flush=True,
    )


def margin_loss(
  student_dir: str,
  teacher_dir: str,
  images: np.ndarray,
  gamma: float,
  batch_size: int,
  num_classes: int,
  image_shape,
) -> float:
  """Margin loss at γ of the final student w.r.t. the final teacher's labels."""
  mesh = data_mesh()
  out = []
  for workdir in (student_dir, teacher_dir):
    _, model = runs.load_run(workdir, num_classes)
    variables = runs.restore_variables(
      workdir, runs.final_epoch(workdir), image_shape, mesh, num_classes
    )
    out.append(predict_logits(model, variables, images, batch_size, mesh))
  student_logits, teacher_logits = out
  return float(
    np.mean(
      metrics.margins(student_logits, np.argmax(teacher_logits, -1)) <= gamma
    )
  )


def margin_loss_shared(
  shared: Shared, cfg, student_dir: str, gamma: float
) -> float:
  """`margin_loss` of a finished run of the grid, with the teacher's final
  logits and the student's evaluator taken from `shared` (same values: the
  same images, batch size and compiled inference step)."""
  plan = distill_loop.plan_lib.make_plan(cfg, student_dir)
  splits = shared.splits(cfg)
  cfg = with_data_fields(cfg, splits.info)
  sets = shared.eval_sets(cfg, splits)
  # The run just checked the teacher (binding.check): its entry is current.
  teachers = shared.teachers(cfg, plan, sets, None)
  teacher_logits = teachers.of_epoch(plan.teacher_epochs)["train"]
  _, model = runs.load_run(student_dir, cfg.num_classes)
  variables = runs.restore_variables(
    student_dir,
    runs.final_epoch(student_dir),
    cfg.input_shape,
    shared.mesh(),
    cfg.num_classes,
  )
  student_logits = shared.evaluator(cfg, model).logits(
    variables, sets["train"][0]
  )
  return float(
    np.mean(
      metrics.margins(student_logits, np.argmax(teacher_logits, -1)) <= gamma
    )
  )


def run_slice(
  layout: Layout,
  run: ml_collections.ConfigDict,
  grid: Sequence,
  early_epoch: Optional[int],
  share,
) -> None:
  """Runs (or resumes) the grid's runs I, I+K, I+2K, ... for share = (I, K).

  `grid` holds (task, teacher config, Student, TeachingMethod, seed) tuples. The
  slices of one grid are disjoint, so K processes can run them at once; result
  rows are made later by `run_grid` (which finds these runs finished). A
  diverged run is reported and left for `run_grid` to record.
  """
  first, step = share
  mine = list(grid)[first::step]
  progress = Progress(len(mine))
  shared = Shared()
  for task, teacher_cfg, student, method, seed in mine:
    _run_one(
      layout,
      run,
      task,
      teacher_cfg,
      student,
      method,
      seed,
      early_epoch,
      progress,
      shared,
    )


def _run_one(
  layout,
  run,
  task,
  teacher_cfg,
  student,
  method,
  seed,
  early_epoch,
  progress,
  shared=None,
):
  """Runs (or resumes) one student run: (its config, final row), or (its
  config, the FloatingPointError) when it diverged."""
  cfg = student_config(
    run, teacher_cfg, layout.teacher(task), student, method, seed, early_epoch
  )
  workdir = layout.student_run(task, student, method, seed)
  progress.next(f"{task}/{student.name}/{method.name}/seed{seed}")
  try:
    return cfg, distill_loop.run(cfg, workdir, shared)[-1]
  except FloatingPointError as err:
    print(f"[reproduce] {workdir} DIVERGED: {err}", flush=True)
    return cfg, err


def run_grid(
  task: str,
  layout: Layout,
  run: ml_collections.ConfigDict,
  teacher_cfg,
  students: Sequence[Student],
  methods: Sequence[TeachingMethod],
  seeds: Sequence[int],
  gamma: float,
  progress: Progress,
  early_epoch: Optional[int] = None,
  *,
  one_process: bool = True,
  shared: Optional[Shared] = None,
) -> List[Dict]:
  """Runs (or resumes) every (student, method, seed); returns the result rows.

  Args:
    one_process: share data, teacher targets and compiled steps between the
      runs (`shared`, or a new `Shared`); False: every run alone.
  """
  teacher_dir = layout.teacher(task)
  if one_process:
    shared = shared or Shared()
  splits = splits_from_config(teacher_cfg)
  eval_size = min(
    run.train_eval_size or len(splits.train_labels), len(splits.train_labels)
  )
  keep = class_balanced_subset(
    splits.train_labels, eval_size, seed=0, num_classes=splits.info.num_classes
  )  # = distill's subset.
  train_eval = splits.train_images[keep]
  rows = []
  for student in students:
    for method in methods:
      for seed in seeds:
        cfg, final = _run_one(
          layout,
          run,
          task,
          teacher_cfg,
          student,
          method,
          seed,
          early_epoch,
          progress,
          shared if one_process else None,
        )
        if isinstance(final, FloatingPointError):
          rows.append(
            result_row(
              task,
              student,
              method,
              seed,
              {"diverged": True, "error": str(final)},
            )
          )
          continue
        workdir = layout.student_run(task, student, method, seed)
        kept = {k: final.get(k) for k in KEPT}
        if method.mode != "none" and one_process:
          with shared.timer("result_rows"):
            kept["train_margin_loss_final"] = margin_loss_shared(
              shared, cfg, workdir, gamma
            )
        elif method.mode != "none":
          kept["train_margin_loss_final"] = margin_loss(
            workdir,
            teacher_dir,
            train_eval,
            gamma,
            cfg.eval_batch_size,
            splits.info.num_classes,
            splits.info.image_shape,
          )
        kept["gamma"] = gamma
        rows.append(
          result_row(task, student, method, seed, {"diverged": False, **kept})
        )
  return rows
