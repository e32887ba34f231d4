"""Typed records of what a reproduction compares: teaching methods and students.

A method is not a string to parse ("offline,distill.temperature=4.0") and τ is
not rebuilt from a name suffix ("online_t4"): a `TeachingMethod` carries its
mode, τ, α and teacher-checkpoint rule as fields, a `Student` its family and
width, and every result row carries these fields. The claims select runs by
fields, so the display `name` of a record can change without changing a verdict.
"""

import dataclasses
from typing import Any

import ml_collections

# Teacher-checkpoint rules, one per distillation mode.
CHECKPOINT_RULES = {
  "none": "labels",  # No teacher: cross-entropy on labels.
  "offline": "final",  # The teacher's last checkpoint.
  # A candidate checkpoint chosen on the validation split.
  "early": "best_on_validation",
  "online": "trajectory",  # Teacher checkpoint t at student epoch t.
}

# family -> (kd_ntk.models preset, width -> keyword arguments). One family at
# several widths is what claim C5's "gap grows as the student shrinks" compares.
FAMILIES = {
  "mlp": ("mlp", lambda w: {"width": int(w), "depth": 1}),
  "lenet5": ("lenet5", lambda w: {"width_multiplier": int(w)}),
  # Plain CNN with early pooling: channels (w, 2w), dense layer 4w.
  "cnn": (
    "cnn_tiny",
    lambda w: {"channels": (int(w), 2 * int(w)), "hidden": 4 * int(w)},
  ),
  # CIFAR ResNet; the size knob is the depth (20, 56, ...).
  "resnet": ("resnet20", lambda w: {"depth": int(w)}),
  # MobileNet-V3 small; the size knob is the width multiplier in percent (35 =
  # x0.35).
  "mobilenetv3": (
    "mobilenetv3_small",
    lambda w: {"width_multiplier": int(w) / 100},
  ),
}


@dataclasses.dataclass(frozen=True)
class TeachingMethod:
  """How a student is taught.

  Attributes:
    name: display label only (tables, directory-free); never read by a claim.
    mode: "none" | "offline" | "early" | "online" (kd_ntk.distill modes).
    temperature: τ of the KD term (None for mode "none").
    alpha: weight α of label cross-entropy, α·CE + (1−α)·KD.
    checkpoint: the teacher-checkpoint rule, CHECKPOINT_RULES[mode].
  """

  name: str
  mode: str
  temperature: float | None = None
  alpha: float = 0.0

  def __post_init__(self):
    if self.mode not in CHECKPOINT_RULES:
      raise ValueError(
        f"Method {self.name!r}: mode must be one of "
        f"{sorted(CHECKPOINT_RULES)}; got {self.mode!r}."
      )
    if self.mode == "none":
      if self.temperature is not None:
        raise ValueError(
          f"Method {self.name!r}: mode 'none' takes no temperature."
        )
    elif self.temperature is None or not self.temperature > 0:
      raise ValueError(
        f"Method {self.name!r}: mode {self.mode!r} needs a temperature "
        f"> 0; got {self.temperature!r}."
      )
    if not 0.0 <= self.alpha <= 1.0:
      raise ValueError(
        f"Method {self.name!r}: alpha must lie in [0, 1]; got {self.alpha}."
      )

  @property
  def checkpoint(self) -> str:
    return CHECKPOINT_RULES[self.mode]

  @property
  def key(self) -> tuple:
    """Identity of the method: every field but the display name."""
    return (self.mode, self.temperature, self.alpha)

  @property
  def slug(self) -> str:
    """Directory name from the fields (renaming keeps finished runs)."""
    if self.mode == "none":
      return "labels" + (f"-alpha{self.alpha:g}" if self.alpha != 0.0 else "")
    return f"{self.mode}-tau{self.temperature:g}-alpha{self.alpha:g}"

  def fields(self) -> dict[str, Any]:
    """The columns a result row carries for this method."""
    return {
      "method": self.name,
      "mode": self.mode,
      "temperature": self.temperature,
      "alpha": self.alpha,
      "checkpoint": self.checkpoint,
    }


@dataclasses.dataclass(frozen=True)
class Student:
  """A student network: one family at one width.

  Attributes:
    name: display label only.
    family: a key of FAMILIES.
    width: the family's size knob (hidden units, LeNet-5 channel multiplier, CNN
      base channels); larger is a larger student.
  """

  name: str
  family: str
  width: int

  def __post_init__(self):
    if self.family not in FAMILIES:
      raise ValueError(
        f"Student {self.name!r}: family must be one of "
        f"{sorted(FAMILIES)}; got {self.family!r}."
      )
    if int(self.width) != self.width or self.width < 1:
      raise ValueError(
        f"Student {self.name!r}: width must be a positive integer; "
        f"got {self.width!r}."
      )

  @property
  def key(self) -> tuple:
    return (self.family, int(self.width))

  @property
  def slug(self) -> str:
    return f"{self.family}-w{int(self.width)}"

  def model(self) -> tuple[str, dict[str, Any]]:
    """(kd_ntk.models preset name, keyword overrides)."""
    preset, kwargs = FAMILIES[self.family]
    return preset, kwargs(self.width)

  def fields(self) -> dict[str, Any]:
    return {
      "student": self.name,
      "student_family": self.family,
      "student_width": int(self.width),
    }


def _block(value) -> dict[str, Any]:
  return (
    value.to_dict()
    if isinstance(value, ml_collections.ConfigDict)
    else dict(value)
  )


def methods_from_config(block) -> tuple[TeachingMethod, ...]:
  """TeachingMethods from a config block {name: {mode, temperature, alpha}}."""
  out = []
  for name, spec in _block(block).items():
    spec = _block(spec)
    unknown = set(spec) - {"mode", "temperature", "alpha"}
    if unknown:
      raise ValueError(
        f"Method {name!r}: unknown field(s) {sorted(unknown)}; a method "
        "has mode, temperature and alpha."
      )
    tau = spec.get("temperature")
    out.append(
      TeachingMethod(
        name,
        spec.get("mode", ""),
        None if tau is None else float(tau),
        float(spec.get("alpha", 0.0)),
      )
    )
  keys = [m.key for m in out]
  if len(set(keys)) != len(keys):
    raise ValueError(
      f"Two methods have the same mode, temperature and alpha: {keys}."
    )
  return tuple(out)


def students_from_config(block) -> tuple[Student, ...]:
  """Students from a config block {name: {family, width}}."""
  out = []
  for name, spec in _block(block).items():
    spec = _block(spec)
    unknown = set(spec) - {"family", "width"}
    if unknown:
      raise ValueError(
        f"Student {name!r}: unknown field(s) {sorted(unknown)}; a "
        "student has family and width."
      )
    out.append(Student(name, spec.get("family", ""), spec.get("width", 0)))
  keys = [s.key for s in out]
  if len(set(keys)) != len(keys):
    raise ValueError(f"Two students have the same family and width: {keys}.")
  return tuple(out)


def matches(row: dict[str, Any], **fields) -> bool:
  """True when `row` has every given field value (floats compared exactly)."""
  return all(row.get(k) == v for k, v in fields.items())


def result_row(
  task: str,
  student: Student,
  method: TeachingMethod,
  seed: int,
  *,
  metrics: dict[str, Any],
) -> dict[str, Any]:
  """One per-seed result row: the record fields, the seed, then the run's
  metrics."""
  return {
    "task": task,
    **student.fields(),
    **method.fields(),
    "seed": int(seed),
    **metrics,
  }


def analysis_student(students, config) -> Student:
  """The claims' family at its smallest width (by width, not list position)."""
  fam = [s for s in students if s.family == config.claims.family] or list(
    students
  )
  return min(fam, key=lambda s: s.width)


def kernel_student(students, config) -> Student:
  """The student whose NTK scores C1–C4: the claims' family at
  `complexity.student_width` (0: its smallest width)."""
  width = config.complexity.get("student_width", 0)
  if not width:
    return analysis_student(students, config)
  fam = [s for s in students if s.family == config.claims.family]
  for s in fam:
    if s.width == width:
      return s
  raise ValueError(
    f"complexity.student_width={width}: the claims family "
    f"{config.claims.family!r} has widths {sorted(s.width for s in fam)}; "
    "pick one of them (or 0 for the smallest)."
  )
