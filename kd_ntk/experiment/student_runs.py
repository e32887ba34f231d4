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

import dataclasses
import os
import time
from collections.abc import Sequence

import ml_collections
import numpy as np

from kd_ntk import metrics
from kd_ntk.grid.layout import Layout
from kd_ntk.grid.records import Student, TeachingMethod, result_row
from kd_ntk.configs import distill as distill_config, fields
from kd_ntk.data import class_balanced_subset, data_mesh
from kd_ntk.distill import loop as distill_loop
from kd_ntk.distill.seed_grid import Shared
from kd_ntk.train import runs
from kd_ntk.train.evaluation import predict_logits
from kd_ntk.train.from_config import splits_from_config, with_data_fields

# Fields a student copies from its teacher's config, so both see the same
# data in the same batches.
COPIED_FROM_TEACHER = fields.DATA_FIELDS + ("batch_size", "eval_batch_size")
# Final-epoch metrics kept in every result row (test numbers reported once,
# here).
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


@dataclasses.dataclass(frozen=True)
class GridRun:
  """One student run of a reproduction's grid.

  Attributes:
    task: "main" (the full task) or "binary" (the two-class task); it names
      the teacher run in the layout.
    teacher: the config of that teacher run (the student copies its data).
    student, method, seed: what is trained, how it is taught, its seed.
  """

  task: str
  teacher: ml_collections.ConfigDict
  student: Student
  method: TeachingMethod
  seed: int

  @property
  def label(self) -> str:
    return f"{self.task}/{self.student.name}/{self.method.name}/seed{self.seed}"


@dataclasses.dataclass(frozen=True)
class GridSettings:
  """What every student run of one reproduction shares.

  Attributes:
    layout: where the teachers and the student runs live.
    students_run: the reproduction config's `students_run` block (epochs,
      learning rate, schedule, ...).
    gamma: the margin γ of the result rows' margin loss.
    early_epoch: the validation-chosen teacher checkpoint (mode "early").
  """

  layout: Layout
  students_run: ml_collections.ConfigDict
  gamma: float = 1.0
  early_epoch: int | None = None


def student_config(
  run: ml_collections.ConfigDict,
  teacher_cfg: ml_collections.ConfigDict,
  *,
  teacher_dir: str,
  student: Student,
  method: TeachingMethod,
  seed: int,
  early_epoch: int | None = None,
) -> ml_collections.ConfigDict:
  """The distill.py config of one (student, method, seed) run.

  Args:
    run: the reproduction config's `students_run` block (epochs, lr, schedule,
    ...).
    early_epoch: the validation-chosen checkpoint (mode "early").
  """
  c = distill_config.get_config()
  c.distill.mode = method.mode
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


def grid_run_config(
  grid_run: GridRun, settings: GridSettings
) -> ml_collections.ConfigDict:
  """`student_config` of one run of the grid."""
  return student_config(
    settings.students_run,
    grid_run.teacher,
    teacher_dir=settings.layout.teacher(grid_run.task),
    student=grid_run.student,
    method=grid_run.method,
    seed=grid_run.seed,
    early_epoch=settings.early_epoch,
  )


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
  *,
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
      workdir,
      runs.final_epoch(workdir),
      input_shape=image_shape,
      mesh=mesh,
      num_classes=num_classes,
    )
    out.append(
      predict_logits(model, variables, images, batch_size=batch_size, mesh=mesh)
    )
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
    input_shape=cfg.input_shape,
    mesh=shared.mesh(),
    num_classes=cfg.num_classes,
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
  settings: GridSettings, grid: Sequence[GridRun], share: tuple[int, int]
) -> None:
  """Runs (or resumes) the grid's runs I, I+K, I+2K, ... for share = (I, K).

  The slices of one grid are disjoint, so K processes can run them at once;
  result rows are made later by `run_grid` (which finds these runs
  finished). A diverged run is reported and left for `run_grid` to record.
  """
  first, step = share
  mine = list(grid)[first::step]
  progress, shared = Progress(len(mine)), Shared()
  for grid_run in mine:
    _run_one(grid_run, settings, progress, shared)


def _run_one(
  grid_run: GridRun,
  settings: GridSettings,
  progress: Progress,
  shared: Shared | None,
):
  """Runs (or resumes) one student run: (its config, final row), or (its
  config, the FloatingPointError) when it diverged. Its config was checked
  with the whole grid's (kd_ntk.experiment.preflight), so the run checks
  only its workdir and data."""
  cfg = grid_run_config(grid_run, settings)
  workdir = settings.layout.student_run(
    grid_run.task, grid_run.student, grid_run.method, grid_run.seed
  )
  progress.next(grid_run.label)
  try:
    return cfg, distill_loop.run(cfg, workdir, shared, checked=True)[-1]
  except FloatingPointError as err:
    print(f"[reproduce] {workdir} DIVERGED: {err}", flush=True)
    return cfg, err


def _train_eval_images(teacher_cfg, run: ml_collections.ConfigDict):
  """The fixed class-balanced training subset of the train metrics (= the
  distillation loop's own subset)."""
  splits = splits_from_config(teacher_cfg)
  eval_size = min(
    run.train_eval_size or len(splits.train_labels), len(splits.train_labels)
  )
  keep = class_balanced_subset(
    splits.train_labels, eval_size, seed=0, num_classes=splits.info.num_classes
  )
  return splits.train_images[keep], splits.info


def _margin_loss_alone(cfg, grid_run: GridRun, settings: GridSettings, cache):
  """`margin_loss` of a run made alone (the subset cached per task)."""
  if grid_run.task not in cache:
    cache[grid_run.task] = _train_eval_images(
      grid_run.teacher, settings.students_run
    )
  images, info = cache[grid_run.task]
  return margin_loss(
    settings.layout.student_run(
      grid_run.task, grid_run.student, grid_run.method, grid_run.seed
    ),
    settings.layout.teacher(grid_run.task),
    images,
    gamma=settings.gamma,
    batch_size=cfg.eval_batch_size,
    num_classes=info.num_classes,
    image_shape=info.image_shape,
  )


def run_grid(
  grid: Sequence[GridRun],
  settings: GridSettings,
  progress: Progress,
  *,
  one_process: bool = True,
  shared: Shared | None = None,
) -> list[dict]:
  """Runs (or resumes) every run of `grid`; returns their result rows.

  Args:
    one_process: share data, teacher targets and compiled steps between the
      runs (`shared`, or a new `Shared`); False: every run alone.
  """
  if one_process:
    shared = shared or Shared()
  else:
    shared = None
  rows, alone_cache = [], {}
  for grid_run in grid:
    cfg, final = _run_one(grid_run, settings, progress, shared)
    key = (grid_run.task, grid_run.student, grid_run.method, grid_run.seed)
    if isinstance(final, FloatingPointError):
      rows.append(
        result_row(*key, metrics={"diverged": True, "error": str(final)})
      )
      continue
    kept = {k: final.get(k) for k in KEPT}
    if grid_run.method.mode != "none" and one_process:
      with shared.timer("result_rows"):
        kept["train_margin_loss_final"] = margin_loss_shared(
          shared,
          cfg,
          settings.layout.student_run(*key),
          settings.gamma,
        )
    elif grid_run.method.mode != "none":
      kept["train_margin_loss_final"] = _margin_loss_alone(
        cfg, grid_run, settings, alone_cache
      )
    kept["gamma"] = settings.gamma
    rows.append(result_row(*key, metrics={"diverged": False, **kept}))
  return rows
