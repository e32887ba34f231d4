"""Teacher schedules: which teacher checkpoint(s) teach each student step.

Epoch convention (shared with `kd_ntk.train.checkpoint`): checkpoint `e` is the
network after `e` training epochs, checkpoint 0 the initialisation. Student
training epochs are numbered t = 1..E; epoch t takes the student from its
checkpoint t−1 to t, in `S` steps s = 0..S−1.

A schedule is a pure function
`pick(epoch, step, steps_per_epoch) -> TeacherPick`: the teacher checkpoints
whose logits, mixed with the given weights, are the student's targets at that
step. Built by the functions below (all module-level functions under
`functools.partial`, so schedules compare, print and pickle).

Online convention. With E student and T teacher epochs, the position of the end
of student epoch t on the teacher's trajectory is u(t) = t·T/E (u = t when
E = T). Per-epoch online distillation uses checkpoint ⌈u(t)⌉ + offset, clipped
to [0, T]:

  offset = 0  (default): student epoch t learns from teacher checkpoint t, the
              teacher at the END of its epoch t. This is the pilot's convention
              ("epoch t counted from 0 uses checkpoint t+1") and the reading of
              PAPER.md's "at student epoch t ... teacher checkpoint t" with
              epochs counted from 1. The last student epoch meets the final
              teacher.
  offset = −1: student epoch t learns from checkpoint t−1, the teacher at the
              START of epoch t; the first epoch fits the random initial teacher.

Per-step variants evaluate the position after step s, u = (t−1 + (s+1)/S)·T/E
+ offset: "step_switch" uses checkpoint ⌈u⌉ (differs from per-epoch only when
T > E), "step_blend" interpolates logits linearly, z = (1−w)·z_⌊u⌋ + w·z_⌊u⌋+1
with w = u − ⌊u⌋. All three agree at the last step of every epoch.
"""

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence

Schedule = Callable[[int, int, int], "TeacherPick | None"]
TemperatureSchedule = Callable[[int], float]

GRANULARITIES = ("epoch", "step_switch", "step_blend")
TEMPERATURE_SCHEDULES = ("constant", "linear", "cosine")


@dataclasses.dataclass(frozen=True)
class TeacherPick:
  """Targets of one student step: z_T = Σ_k weights[k] · z(checkpoint
  epochs[k]).

  Attributes:
    epochs: teacher checkpoint epochs (one for plain schedules, two when
      blending).
    weights: mixing weights of their logits (sum to 1).
  """

  epochs: tuple[int, ...]
  weights: tuple[float, ...]

  @property
  def last(self) -> int:
    """The checkpoint of largest weight, ties to the later one (reporting)."""
    return max(zip(self.weights, self.epochs))[1]


def _single(epoch: int) -> TeacherPick:
  return TeacherPick((int(epoch),), (1.0,))


def _clip(e: int, teacher_epochs: int) -> int:
  return min(max(e, 0), teacher_epochs)


def _none(epoch: int, step: int, steps_per_epoch: int) -> None:
  del epoch, step, steps_per_epoch
  return None


def _fixed(
  epoch: int, step: int, steps_per_epoch: int, *, checkpoint: int
) -> TeacherPick:
  del epoch, step, steps_per_epoch
  return _single(checkpoint)


def online_checkpoint(
  epoch: int, student_epochs: int, teacher_epochs: int, offset: int = 0
) -> int:
  """⌈t·T/E⌉ + offset clipped to [0, T]: the online checkpoint of epoch t."""
  # Exact integer ceiling.
  mapped = -(-epoch * teacher_epochs // student_epochs)
  return _clip(mapped + offset, teacher_epochs)


def _online(
  epoch: int,
  step: int,
  steps_per_epoch: int,
  *,
  student_epochs: int,
  teacher_epochs: int,
  offset: int,
  granularity: str,
) -> TeacherPick:
  if granularity == "epoch":
    return _single(
      online_checkpoint(epoch, student_epochs, teacher_epochs, offset)
    )
  # Position after this step on the teacher trajectory, in teacher epochs.
  u = (
    epoch - 1 + (step + 1) / steps_per_epoch
  ) * teacher_epochs / student_epochs + offset
  u = min(max(u, 0.0), float(teacher_epochs))
  # Round away float noise so integer positions stay integer (u = t exactly).
  u = round(u, 9)
  if granularity == "step_switch":
    return _single(math.ceil(u))
  lower = math.floor(u)
  weight = u - lower
  if weight == 0.0:
    return _single(lower)
  return TeacherPick((lower, lower + 1), (1.0 - weight, weight))


def _anchors(
  epoch: int,
  step: int,
  steps_per_epoch: int,
  *,
  anchor_epochs: tuple[int, ...],
  switch_epochs: tuple[int, ...],
) -> TeacherPick:
  del step, steps_per_epoch
  stage = max(i for i, start in enumerate(switch_epochs) if start <= epoch)
  return _single(anchor_epochs[stage])


def no_teacher() -> Schedule:
  """Training on labels alone: every step picks no teacher."""
  return _none


def fixed(checkpoint: int) -> Schedule:
  """One checkpoint throughout: offline KD (the final checkpoint) or an
  early-stopped teacher (an earlier one)."""
  if checkpoint < 0:
    raise ValueError(f"Teacher checkpoint must be >= 0; got {checkpoint}.")
  return functools.partial(_fixed, checkpoint=int(checkpoint))


def online(
  student_epochs: int,
  teacher_epochs: int,
  offset: int = 0,
  granularity: str = "epoch",
) -> Schedule:
  """The student follows the teacher's trajectory (see the module docstring).

  Args:
    student_epochs: E, the student's number of epochs.
    teacher_epochs: T, the teacher's final checkpoint (T ≠ E maps
      proportionally).
    offset: added to the mapped checkpoint (0: teacher at the end of the epoch,
      −1: at its start).
    granularity: "epoch", "step_switch" or "step_blend".
  """
  if granularity not in GRANULARITIES:
    raise ValueError(
      f"granularity must be one of {GRANULARITIES}; got {granularity!r}."
    )
  if student_epochs < 1 or teacher_epochs < 1:
    raise ValueError(
      f"Online distillation needs >= 1 student and teacher epochs; got "
      f"{student_epochs} and {teacher_epochs}."
    )
  return functools.partial(
    _online,
    student_epochs=int(student_epochs),
    teacher_epochs=int(teacher_epochs),
    offset=int(offset),
    granularity=granularity,
  )


def anchors(
  anchor_epochs: Sequence[int],
  switch_epochs: Sequence[int] = (),
  student_epochs: int = 0,
) -> Schedule:
  """Stage-wise teachers: anchor checkpoint k teaches from student epoch
  switch_epochs[k].

  Route-constrained optimisation (Jin et al., 2019) is a few increasing anchors
  in equal stages; two-checkpoint progressive distillation is
  `anchors((e_early, T), (1, E//2 + 1))`.

  Args:
    anchor_epochs: teacher checkpoints, in the order they are used.
    switch_epochs: the student epoch at which each anchor starts; the first must
      be 1 and they must increase. Empty: equal stages over `student_epochs`.
    student_epochs: E, needed only to derive equal stages.
  """
  anchor_epochs = tuple(int(e) for e in anchor_epochs)
  if not anchor_epochs or min(anchor_epochs) < 0:
    raise ValueError(
      f"anchor_epochs must be non-empty checkpoints >= 0; got {anchor_epochs}."
    )
  if not switch_epochs:
    if student_epochs < len(anchor_epochs):
      raise ValueError(
        f"{len(anchor_epochs)} anchors need at least as many student "
        f"epochs; got {student_epochs}."
      )
    switch_epochs = [
      1 + k * student_epochs // len(anchor_epochs)
      for k in range(len(anchor_epochs))
    ]
  switch_epochs = tuple(int(e) for e in switch_epochs)
  if len(switch_epochs) != len(anchor_epochs):
    raise ValueError(
      f"switch_epochs {switch_epochs} must have one entry per anchor "
      f"{anchor_epochs}."
    )
  if switch_epochs[0] != 1 or any(
    b <= a for a, b in zip(switch_epochs, switch_epochs[1:])
  ):
    raise ValueError(
      f"switch_epochs must start at 1 and increase; got {switch_epochs}."
    )
  if student_epochs and switch_epochs[-1] > student_epochs:
    raise ValueError(
      f"switch_epochs {switch_epochs} go beyond the {student_epochs} "
      "student epochs; the last anchor would never be used."
    )
  return functools.partial(
    _anchors, anchor_epochs=anchor_epochs, switch_epochs=switch_epochs
  )


def needed_checkpoints(
  schedule: Schedule,
  student_epochs: int,
  steps_per_epoch: int,
  first_epoch: int = 1,
) -> set[int]:
  """Every teacher checkpoint the schedule uses over epochs first_epoch..E."""
  needed = set()
  for epoch in range(first_epoch, student_epochs + 1):
    for step in range(steps_per_epoch):
      pick = schedule(epoch, step, steps_per_epoch)
      if pick is not None:
        needed.update(pick.epochs)
  return needed


# --- Temperature curricula (a function of the student epoch) ------------------


def _temperature(
  epoch: int, *, kind: str, start: float, end: float, epochs: int
) -> float:
  # Progress 0 at the first training epoch, 1 at the last one.
  frac = 0.0 if epochs <= 1 else min(max((epoch - 1) / (epochs - 1), 0.0), 1.0)
  if kind == "linear":
    return start + (end - start) * frac
  if kind == "cosine":
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * frac))
  return end


def temperature_schedule(
  kind: str, start: float, end: float, epochs: int
) -> TemperatureSchedule:
  """τ(t) for student epochs t = 1..E: τ(1) = start, τ(E) = end.

  "constant": τ = end throughout;
  "linear":   τ(t) = start + (end − start)·(t−1)/(E−1);
  "cosine":   τ(t) = end + (start − end)·(1 + cos(π (t−1)/(E−1)))/2.

  A curriculum from a high to a low temperature starts from simpler (lower
  supervision complexity) targets and ends at the sharper ones, with one fixed
  teacher.
  """
  if kind not in TEMPERATURE_SCHEDULES:
    raise ValueError(
      f"temperature_schedule must be one of {TEMPERATURE_SCHEDULES}; "
      f"got {kind!r}."
    )
  if min(start, end) <= 0:
    raise ValueError(f"Temperatures must be > 0; got start={start}, end={end}.")
  return functools.partial(
    _temperature,
    kind=kind,
    start=float(start),
    end=float(end),
    epochs=int(epochs),
  )
