"""The reproduction's records: the part of the work (`Part`), the grid of
student runs and the configs validated once (`Plan`), and the launcher's
--part flag turned into a `Part`."""

import importlib.util
import pathlib

import pytest

from kd_ntk.configs import reproduce as reproduce_config
from kd_ntk.experiment.reproduction_plan import Part, plan_of

LAUNCHER = (
  pathlib.Path(__file__).resolve().parents[2] / "experiments/reproduce.py"
)


def _launcher():
  spec = importlib.util.spec_from_file_location("reproduce_launcher", LAUNCHER)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_the_grid_holds_every_run_once_main_task_first():
  config = reproduce_config.get_config("tiny")
  plan = plan_of(config)
  grid = plan.grid()
  main = len(plan.students) * len(plan.methods) * len(config.seeds)
  binary = len(plan.binary_methods) * len(config.binary.seeds)
  assert len(grid) == main + binary
  assert [r.task for r in grid] == ["main"] * main + ["binary"] * binary
  keys = [(r.task, r.student.key, r.method.key, r.seed) for r in grid]
  assert len(set(keys)) == len(keys)
  assert {r.student for r in grid[main:]} == {plan.analysis_student}
  assert all(
    tuple(r.teacher.classes) == tuple(config.binary.classes)
    for r in grid[main:]
  )


def test_one_validation_config_per_grid_cell_and_the_binary_teacher():
  config = reproduce_config.get_config("tiny")
  plan = plan_of(config)
  labelled = plan.student_configs()
  assert labelled[0][0] == "two-class teacher"
  # The two-class task trains its one student (the analysis student).
  expected = len(plan.students) * len(plan.methods) + len(plan.binary_methods)
  assert len(labelled) == 1 + expected
  assert all(
    "two-class" not in label or plan.analysis_student.name in label
    for label, _ in labelled[1:]
  )
  modes = {c.distill.mode for _, c in labelled[1:]}
  assert modes == {m.mode for m in plan.methods + plan.binary_methods}


@pytest.mark.parametrize(
  "kwargs, message",
  [
    ({"kind": "student"}, "part must be one of"),
    ({"kind": "students"}, "needs its slice"),
    ({"kind": "teachers", "share": (0, 2)}, "needs its slice"),
    ({"kind": "students", "share": (2, 2)}, "0 <= I < K"),
    ({"kind": "students", "share": (-1, 2)}, "0 <= I < K"),
  ],
)
def test_a_part_that_cannot_be_run_is_refused(kwargs, message):
  with pytest.raises(ValueError, match=message):
    Part(**kwargs)


def test_the_part_flag_becomes_a_record():
  part_from_flag = _launcher().part_from_flag
  assert part_from_flag("all") == Part()
  assert part_from_flag("teachers") == Part("teachers")
  assert part_from_flag("students:1/3") == Part("students", (1, 3))
  for bad in ("students", "students:1", "students:a/b", "everything"):
    with pytest.raises(ValueError, match="--part must be"):
      part_from_flag(bad)
  with pytest.raises(ValueError, match="0 <= I < K"):
    part_from_flag("students:3/3")


def test_bad_seeds_of_either_task_fail_the_one_validation_pass(tmp_path):
  from kd_ntk.experiment import reproduce

  for override in ("seeds=(0,-1)", "binary.seeds=()"):
    config = reproduce_config.get_config(f"tiny,{override}")
    name = override.split("=")[0]
    with pytest.raises(ValueError, match=rf"{name}=.* must be one or more"):
      reproduce.run(config, str(tmp_path / "w"))
  assert not (tmp_path / "w").exists()


def test_the_plan_reads_the_config_once_and_checks_its_fields_first():
  from kd_ntk.configs.common import ConfigError

  # A bad field is reported before any record is built from the config.
  bad = reproduce_config.get_config("tiny,seeds=(0,-1)")
  bad.methods = {"broken": {"mode": "no such mode"}}
  with pytest.raises(ConfigError, match=r"seeds=.* must be one or more"):
    plan_of(bad)
  config = reproduce_config.get_config("tiny")
  plan = plan_of(config)
  # What the later steps read is in the plan, not looked up in the config.
  assert plan.teacher is config.teacher
  assert tuple(plan.binary_teacher.classes) == tuple(config.binary.classes)
  assert plan.seeds == tuple(config.seeds)
  assert plan.kernels.teacher_epochs[-1] == config.teacher.epochs
  assert plan.claims.gamma == config.claims.gamma
  assert plan.config_values["seeds"] == list(config.seeds)
