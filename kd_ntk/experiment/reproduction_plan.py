"""What a reproduction config asks for, as records, before anything runs.

`plan_of(config)` turns the config's blocks into typed records once (the
teaching methods, the students, which student the claims and the kernels
use) and raises on a choice that cannot work, before any training. The rest
of the reproduction reads these records, never the config's strings:

  * `Plan.grid(config)`: every student run (`GridRun`), main
    task then two-class task;
  * `Plan.student_configs(config)`: (label, config) of every run, for the
    one validation pass (`kd_ntk.experiment.preflight`);
  * `Part`: which part of the work one invocation does (all, the teachers,
    or a slice I/K of the student grid).
"""

import dataclasses

import ml_collections

from kd_ntk.experiment.student_runs import GridRun, student_config
from kd_ntk.grid import records
from kd_ntk.grid.records import Student, TeachingMethod
from kd_ntk.experiment import teacher_selection

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
class Plan:
  """The records of a reproduction config.

  Attributes:
    methods, binary_methods: the teaching methods of the main and the
      two-class task.
    students: the students of the main task.
    analysis_student: the claims' family at its smallest width (C5–C8 and
      the two-class task's student).
    kernel_student: the student whose NTK scores C1–C4.
  """

  methods: tuple[TeachingMethod, ...]
  binary_methods: tuple[TeachingMethod, ...]
  students: tuple[Student, ...]
  analysis_student: Student
  kernel_student: Student

  @property
  def has_early(self) -> bool:
    return any(m.mode == "early" for m in self.methods)

  def grid(self, config) -> list[GridRun]:
    """Every student run: main task (student × method × seed), then the
    two-class task (its student × method × seed)."""
    binary = binary_teacher_config(config)
    return [
      GridRun("main", config.teacher, s, m, seed)
      for s in self.students
      for m in self.methods
      for seed in config.seeds
    ] + [
      GridRun("binary", binary, self.analysis_student, m, seed)
      for m in self.binary_methods
      for seed in config.binary.seeds
    ]

  def student_configs(self, config) -> list:
    """(label, config) of the two-class teacher and of every (task, student,
    method) of the grid, at the task's first seed, for the one validation
    pass before anything is written (the early checkpoint is a placeholder:
    validation chooses it later; the seeds are checked as numbers)."""
    placeholder = max(config.early.candidates) if config.get("early") else 1
    grid = self.grid(config)
    labelled = [("two-class teacher", grid[-1].teacher)] if grid else []
    seen = set()
    for run in grid:
      key = (run.task, run.student.key, run.method.key)
      if key in seen:
        continue
      seen.add(key)
      task = "" if run.task == "main" else "two-class task, "
      cfg = student_config(
        config.students_run,
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


def plan_of(config) -> Plan:
  """The records of `config`, with the choices checked before any training."""
  methods = records.methods_from_config(config.methods)
  binary_methods = records.methods_from_config(config.binary.methods)
  students = records.students_from_config(config.students)
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
  return Plan(
    methods=methods,
    binary_methods=binary_methods,
    students=students,
    analysis_student=records.analysis_student(students, config),
    # Raises on a width the family lacks.
    kernel_student=records.kernel_student(students, config),
  )
