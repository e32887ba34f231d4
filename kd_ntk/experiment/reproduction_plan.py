"""What a reproduction config asks for, as records, before anything runs.

`plan_of(config)` is the one reader of a reproduction config: it checks the
config's own fields first, then turns its blocks into typed records once (the
teaching methods, the students, which student the claims and the kernels use,
every student run, the teachers' run configs, how the early teacher is chosen,
which kernels C1–C4 take, the claims' settings) and raises on a choice that
cannot work, before any training. The rest of the reproduction reads the
`Plan`, never the config:

  * `Plan.grid()`: every student run (`GridRun`), main task then two-class
    task;
  * `Plan.student_configs()`: (label, config) of every run, for the one
    validation pass (`kd_ntk.experiment.preflight`);
  * `Part`: which part of the work one invocation does (all, the teachers,
    or a slice I/K of the student grid).
"""

import dataclasses
import json

import ml_collections

from kd_ntk.experiment import preflight, teacher_selection
from kd_ntk.experiment.complexity_runs import strided
from kd_ntk.experiment.student_runs import GridRun, student_config
from kd_ntk.grid import records
from kd_ntk.grid.records import Student, TeachingMethod

PART_KINDS = ("all", "teachers", "students")


@dataclasses.dataclass(frozen=True)
class Part:
  """Which part of a reproduction one invocation does.

  Attributes:
    kind: "all" (whatever is missing, then the analysis and the report),
      "teachers" (both teachers and the early teacher's selection) or
      "students" (a slice of the student grid, after the teachers).
    share: for "students", (I, K): the grid's runs I, I+K, I+2K, ...
  """

  kind: str = "all"
  share: tuple[int, int] | None = None

  def __post_init__(self):
    if self.kind not in PART_KINDS:
      raise ValueError(f"part must be one of {PART_KINDS}; got {self.kind!r}.")
    if (self.kind == "students") != (self.share is not None):
      raise ValueError(
        "A students part needs its slice (I, K), and only it has one; got "
        f"kind={self.kind!r}, share={self.share!r}."
      )
    if self.share is not None and not 0 <= self.share[0] < self.share[1]:
      raise ValueError(
        f"The slice I/K={self.share[0]}/{self.share[1]} needs 0 <= I < K "
        "(students:I/K). Run the teachers first, then the K slices (in "
        "parallel if you like), then 'all' for the analysis."
      )


def binary_teacher_config(config) -> ml_collections.ConfigDict:
  """The two-class task's teacher: the main teacher on `binary.classes`."""
  binary = ml_collections.ConfigDict(config.teacher.to_dict())
  binary.classes = tuple(config.binary.classes)
  binary.train_subset = config.binary.train_subset
  binary.test_subset = 0  # Every test image of the two classes (2,000 here).
  return binary


@dataclasses.dataclass(frozen=True)
class EarlyChoice:
  """How the early-stopped teacher is chosen (`teacher_selection.select`):
  the candidate epochs, the validation criterion, and the validation split
  (class-balanced training images outside the teacher's subset)."""

  candidates: tuple[int, ...]
  criterion: str
  validation_size: int
  validation_seed: int


@dataclasses.dataclass(frozen=True)
class KernelRuns:
  """The supervision-complexity runs that score C1–C4
  (`kd_ntk.experiment.complexity_runs.run_subsets`).

  Attributes:
    block: the config's `complexity` block (subsets, examples,
      temperatures, kernel, ...).
    teacher_epochs: the teacher checkpoints scored.
    student_epochs: the kernel student's epochs whose NTK is taken; (0,)
      with `trajectory_seed` None: a fresh student at initialisation.
    trajectory_seed: the seed of the labels-trained run whose checkpoints
      give the kernels (C3), or None.
  """

  block: ml_collections.ConfigDict
  teacher_epochs: tuple[int, ...]
  student_epochs: tuple[int, ...]
  trajectory_seed: int | None


@dataclasses.dataclass(frozen=True)
class ClaimSettings:
  """What the verdicts need beyond the result rows.

  Attributes:
    family: the claims' student family (""/None: the one with most
      widths).
    alpha: α of the compared methods; gamma: the margin γ of C7.
    binary_primary: the two-class task's primary method's fields (C8).
    c3_reason: why this regime cannot test C3 ("" when it can).
    c3_window: C3's rise window fixed in the config, or ().
  """

  family: str | None
  alpha: float
  gamma: float
  binary_primary: dict
  c3_reason: str
  c3_window: tuple[int, ...]


def c3_regime_reason(config) -> str:
  """Why C3 cannot be tested in this regime ("" when it can)."""
  if not config.complexity.trajectory:
    return "the student's NTK is taken at initialisation only (complexity.trajectory=False)"
  schedule = config.students_run.schedule
  if schedule == "cosine" and not config.students_run.get("lr_floor", 0.0):
    return (
      "a cosine schedule decays the learning rate to 0 and freezes the kernel"
    )
  if schedule not in ("constant", "cosine"):
    return (
      f"the students' learning rate decays ({schedule}), which nearly "
      "freezes the kernel late in training; C3 has its own run "
      "(kd_ntk/configs/reproduce.py:c3)"
    )
  if config.students_run.epochs < 3:
    return f"{config.students_run.epochs} student epochs: no room for a drop and a rise"
  return ""


@dataclasses.dataclass(frozen=True)
class Plan:
  """Everything a reproduction runs and decides, read from its config once.

  Attributes:
    methods, binary_methods: the teaching methods of the main and the
      two-class task.
    students: the students of the main task.
    analysis_student: the claims' family at its smallest width (C5–C8 and
      the two-class task's student).
    kernel_student: the student whose NTK scores C1–C4.
    teacher, binary_teacher: the run configs of the two teachers.
    seeds, binary_seeds: the student seeds of each task.
    students_run: the students' run block (epochs, learning rate, ...).
    early: how the early teacher is chosen (None: the config has no `early`
      block).
    kernels: the complexity runs of C1–C4.
    claims: the verdicts' settings.
    config_values: the config as plain JSON values (results.json's record
      of what ran; the report's regime section reads it).
  """

  methods: tuple[TeachingMethod, ...]
  binary_methods: tuple[TeachingMethod, ...]
  students: tuple[Student, ...]
  analysis_student: Student
  kernel_student: Student
  teacher: ml_collections.ConfigDict
  binary_teacher: ml_collections.ConfigDict
  seeds: tuple[int, ...]
  binary_seeds: tuple[int, ...]
  students_run: ml_collections.ConfigDict
  early: EarlyChoice | None
  kernels: KernelRuns
  claims: ClaimSettings
  config_values: dict

  @property
  def has_early(self) -> bool:
    return any(m.mode == "early" for m in self.methods)

  def grid(self) -> list[GridRun]:
    """Every student run: main task (student × method × seed), then the
    two-class task (its student × method × seed)."""
    return [
      GridRun("main", self.teacher, s, m, seed)
      for s in self.students
      for m in self.methods
      for seed in self.seeds
    ] + [
      GridRun("binary", self.binary_teacher, self.analysis_student, m, seed)
      for m in self.binary_methods
      for seed in self.binary_seeds
    ]

  def student_configs(self) -> list:
    """(label, config) of the two-class teacher and of every (task, student,
    method) of the grid, at the task's first seed, for the one validation
    pass before anything is written (the early checkpoint is a placeholder:
    validation chooses it later; the seeds are checked as numbers)."""
    placeholder = max(self.early.candidates) if self.early else 1
    grid = self.grid()
    labelled = [("two-class teacher", self.binary_teacher)] if grid else []
    seen = set()
    for run in grid:
      key = (run.task, run.student.key, run.method.key)
      if key in seen:
        continue
      seen.add(key)
      task = "" if run.task == "main" else "two-class task, "
      cfg = student_config(
        self.students_run,
        run.teacher,
        teacher_dir="teacher",
        student=run.student,
        method=run.method,
        seed=run.seed,
        early_epoch=placeholder,
      )
      labelled.append(
        (f"{task}student {run.student.name}, method {run.method.name}", cfg)
      )
    return labelled


def _check_choices(config, methods, binary_methods) -> None:
  """Raises on a choice of the config that cannot work."""
  if not config.teacher.train_subset:
    raise ValueError(
      "teacher.train_subset must be > 0: the validation split is drawn "
      "from the training images outside that subset, which the training "
      "loops then never see (e.g. 50000 of 60000)."
    )
  if any(m.mode == "early" for m in methods):
    teacher_selection.check_candidates(
      config.early.candidates, config.teacher.epochs, config.early.criterion
    )
  if config.complexity.trajectory and not any(
    m.mode == "none" for m in methods
  ):
    raise ValueError(
      "complexity.trajectory needs a labels method (mode 'none'): its "
      "seed-0 run of the kernel student (complexity.student_width) provides "
      "the kernels of C3."
    )
  if not any(m.mode == "none" for m in binary_methods):
    raise ValueError(
      "binary.methods needs a labels method (mode 'none') for claim C8."
    )
  primary = config.binary.primary.to_dict()
  if not any(records.matches(m.fields(), **primary) for m in binary_methods):
    raise ValueError(
      f"binary.primary {primary} matches none of binary.methods."
    )


def _kernel_runs(config) -> KernelRuns:
  c = config.complexity
  trajectory = bool(c.trajectory)
  return KernelRuns(
    block=c,
    teacher_epochs=strided(config.teacher.epochs, c.teacher_epoch_stride),
    student_epochs=(
      strided(config.students_run.epochs, c.student_epoch_stride)
      if trajectory
      else (0,)
    ),
    trajectory_seed=config.seeds[0] if trajectory else None,
  )


def _early_choice(config) -> EarlyChoice | None:
  early = config.get("early")
  if not early:
    return None
  return EarlyChoice(
    candidates=tuple(early.candidates),
    criterion=early.criterion,
    validation_size=config.validation_size,
    validation_seed=config.validation_seed,
  )


def _claim_settings(config) -> ClaimSettings:
  return ClaimSettings(
    family=config.claims.family,
    alpha=config.claims.alpha,
    gamma=config.claims.gamma,
    binary_primary=config.binary.primary.to_dict(),
    c3_reason=c3_regime_reason(config),
    c3_window=tuple(config.complexity.get("c3_window", ())),
  )


def plan_of(config) -> Plan:
  """The plan of `config`: its fields checked (one ConfigError listing every
  problem), its blocks as records, and its choices checked, before any
  training."""
  preflight.check_reproduce_fields(config)
  methods = records.methods_from_config(config.methods)
  binary_methods = records.methods_from_config(config.binary.methods)
  students = records.students_from_config(config.students)
  _check_choices(config, methods, binary_methods)
  return Plan(
    teacher=config.teacher,
    binary_teacher=binary_teacher_config(config),
    seeds=tuple(config.seeds),
    binary_seeds=tuple(config.binary.seeds),
    students_run=config.students_run,
    early=_early_choice(config),
    kernels=_kernel_runs(config),
    claims=_claim_settings(config),
    config_values=json.loads(config.to_json_best_effort()),
    methods=methods,
    binary_methods=binary_methods,
    students=students,
    analysis_student=records.analysis_student(students, config),
    # Raises on a width the family lacks.
    kernel_student=records.kernel_student(students, config),
  )
