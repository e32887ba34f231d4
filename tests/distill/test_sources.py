"""Teacher schedules: which checkpoint teaches each student epoch and step."""

import math

import pytest

from kd_ntk.distill import sources
from kd_ntk.distill.sources import TeacherPick


def _per_epoch(schedule, epochs, steps=1):
  return [schedule(t, steps - 1, steps).epochs[0] for t in range(1, epochs + 1)]


def test_online_uses_checkpoint_t_at_epoch_t():
  schedule = sources.online(8, 8)
  assert _per_epoch(schedule, 8) == list(range(1, 9))
  # Every step of epoch t, not only the last.
  assert {schedule(3, s, 10) for s in range(10)} == {TeacherPick((3,), (1.0,))}


def test_online_offset_minus_one_starts_from_the_initialisation():
  assert _per_epoch(sources.online(5, 5, offset=-1), 5) == [0, 1, 2, 3, 4]
  assert _per_epoch(sources.online(5, 5, offset=2), 5) == [
    3,
    4,
    5,
    5,
    5,
  ]  # Clipped at T.


def test_online_maps_epochs_proportionally():
  assert _per_epoch(sources.online(4, 8), 4) == [2, 4, 6, 8]
  assert _per_epoch(sources.online(8, 4), 8) == [1, 1, 2, 2, 3, 3, 4, 4]
  assert _per_epoch(sources.online(3, 10), 3) == [
    4,
    7,
    10,
  ]  # ⌈10t/3⌉, ends at T.
  assert sources.online_checkpoint(256, 256, 30) == 30


def test_step_switch_moves_within_an_epoch_when_the_teacher_has_more_epochs():
  schedule = sources.online(2, 4, granularity="step_switch")
  picks = [schedule(1, s, 4).epochs[0] for s in range(4)]
  assert picks == [1, 1, 2, 2]
  # Same epoch counts: identical to the per-epoch schedule at every step.
  same = sources.online(3, 3, granularity="step_switch")
  assert all(same(t, s, 5).epochs == (t,) for t in (1, 2, 3) for s in range(5))


def test_step_blend_interpolates_along_the_trajectory():
  schedule = sources.online(4, 4, granularity="step_blend")
  first = schedule(2, 0, 4)  # u = 1.25: between checkpoints 1 and 2.
  assert first.epochs == (1, 2)
  assert first.weights == pytest.approx((0.75, 0.25))
  mid = schedule(2, 1, 4)
  assert mid.weights == pytest.approx((0.5, 0.5))
  assert schedule(2, 3, 4) == TeacherPick(
    (2,), (1.0,)
  )  # End of epoch t: checkpoint t.
  assert schedule(4, 3, 4) == TeacherPick((4,), (1.0,))
  for s in range(7):  # Weights always sum to one; u never leaves [0, T].
    pick = schedule(1, s, 7)
    assert sum(pick.weights) == pytest.approx(1.0)
    assert max(pick.epochs) <= 4


def test_fixed_and_none():
  assert sources.fixed(5)(1, 0, 10) == TeacherPick((5,), (1.0,))
  assert sources.fixed(5)(9, 9, 10).epochs == (5,)
  assert sources.no_teacher()(1, 0, 10) is None
  with pytest.raises(ValueError):
    sources.fixed(-1)


def test_anchors_switch_at_the_given_epochs():
  schedule = sources.anchors((2, 5, 8), (1, 3, 6))
  assert _per_epoch(schedule, 8) == [2, 2, 5, 5, 5, 8, 8, 8]


def test_anchors_equal_stages_and_two_checkpoint_progressive():
  assert _per_epoch(sources.anchors((2, 4, 6, 8), student_epochs=8), 8) == [
    2,
    2,
    4,
    4,
    6,
    6,
    8,
    8,
  ]
  assert _per_epoch(sources.anchors((3, 10), student_epochs=5), 5) == [
    3,
    3,
    10,
    10,
    10,
  ]


@pytest.mark.parametrize(
  "anchor_epochs,switch,match",
  [
    ((), (), "non-empty"),
    ((1, 2), (1,), "one entry per anchor"),
    ((1, 2), (2, 3), "start at 1"),
    ((1, 2), (1, 1), "increase"),
    ((1, 2, 3), (), "at least as many"),
  ],
)
def test_anchors_reject_bad_stages(anchor_epochs, switch, match):
  with pytest.raises(ValueError, match=match):
    sources.anchors(anchor_epochs, switch, student_epochs=2)


def test_needed_checkpoints():
  assert sources.needed_checkpoints(sources.online(3, 3), 3, 4) == {1, 2, 3}
  assert sources.needed_checkpoints(sources.online(3, 3, -1), 3, 4) == {0, 1, 2}
  blend = sources.online(2, 2, granularity="step_blend")
  assert sources.needed_checkpoints(blend, 2, 4) == {0, 1, 2}
  assert sources.needed_checkpoints(sources.no_teacher(), 3, 4) == set()


def test_temperature_curricula():
  linear = sources.temperature_schedule("linear", 8.0, 2.0, 4)
  assert [linear(t) for t in (1, 2, 3, 4)] == pytest.approx(
    [8.0, 6.0, 4.0, 2.0]
  )
  cosine = sources.temperature_schedule("cosine", 8.0, 2.0, 5)
  values = [cosine(t) for t in range(1, 6)]
  assert values[0] == pytest.approx(8.0) and values[-1] == pytest.approx(2.0)
  assert values[2] == pytest.approx(5.0)  # Half-way: the mean.
  assert all(a > b for a, b in zip(values, values[1:]))
  constant = sources.temperature_schedule("constant", 8.0, 2.0, 5)
  assert {constant(t) for t in range(1, 6)} == {2.0}
  assert sources.temperature_schedule("linear", 8.0, 2.0, 1)(1) == 8.0
  with pytest.raises(ValueError):
    sources.temperature_schedule("exponential", 8.0, 2.0, 4)
  with pytest.raises(ValueError):
    sources.temperature_schedule("linear", 0.0, 2.0, 4)


def test_pick_last_reports_the_heavier_checkpoint():
  assert TeacherPick((1, 2), (0.7, 0.3)).last == 1
  assert TeacherPick((1, 2), (0.5, 0.5)).last == 2
  assert math.isclose(sum(TeacherPick((3,), (1.0,)).weights), 1.0)
