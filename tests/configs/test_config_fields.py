"""One owner for each list of fields and modes (`kd_ntk.configs.fields`):
every consumer reads that list, and no other module spells it out again."""

import ast
import pathlib

import pytest

from kd_ntk.configs import distill as distill_config
from kd_ntk.configs import fields
from kd_ntk.distill import plan, seed_grid
from kd_ntk.experiment import student_runs
from kd_ntk.grid import records

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "kd_ntk"


def test_every_consumer_reads_the_one_list():
  assert plan.MODES is fields.DISTILL_MODES
  assert set(records.CHECKPOINT_RULES) <= set(fields.DISTILL_MODES)
  assert set(fields.EXAMPLE_FIELDS) <= set(fields.DATA_FIELDS)
  assert set(fields.DATA_FIELDS) <= set(student_runs.COPIED_FROM_TEACHER)
  assert set(fields.DATA_FIELDS) <= set(seed_grid.NOT_IN_STEP)
  assert distill_config.MODE_VARIANTS == set(fields.DISTILL_MODES) | set(
    fields.MODE_PRESETS
  )


def test_the_lockstep_teacher_follows_every_data_field_of_its_student():
  config = distill_config.get_config("tiny,lockstep")
  for name in fields.DATA_FIELDS:
    assert name in config.distill.teacher
  config.train_subset, config.classes = 96, (0, 1)
  assert config.distill.teacher.train_subset == 96
  assert tuple(config.distill.teacher.classes) == (0, 1)


@pytest.mark.parametrize("preset", sorted(fields.MODE_PRESETS))
def test_every_preset_sets_a_mode_the_plan_accepts(preset):
  config = distill_config.get_config(f"tiny,{preset}")
  mode, changes = fields.MODE_PRESETS[preset]
  assert config.distill.mode == mode and mode in plan.MODES
  for key, value in changes(config.distill).items():
    assert config.distill[key] == value
  plan.check_fields(config)  # Each preset is a valid distill block.


def _string_tuples(path: pathlib.Path):
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
      values = {
        e.value
        for e in node.elts
        if isinstance(e, ast.Constant) and isinstance(e.value, str)
      }
      yield node.lineno, values


def test_no_module_spells_out_the_data_fields_or_the_modes_again():
  """A literal holding three or more data fields, or four or more distill
  modes, outside configs/fields.py is a second owner of that list."""
  found = []
  for path in sorted(PACKAGE.rglob("*.py")):
    if path.name == "fields.py" and path.parent.name == "configs":
      continue
    for line, values in _string_tuples(path):
      if (
        len(values & set(fields.DATA_FIELDS)) >= 3
        or len(values & set(fields.DISTILL_MODES)) >= 4
      ):
        found.append(f"{path.relative_to(PACKAGE.parent)}:{line}")
  assert not found, (
    f"lists of fields or modes outside configs/fields.py: {found}"
  )
