"""Config files: variants, overrides and clear errors."""

import json

import ml_collections
import pytest

from kd_ntk.grid import records

from kd_ntk.configs import common, complexity, distill, reproduce, teacher
from kd_ntk.distill import plan
from kd_ntk.models import MODELS
from kd_ntk.train.state import learning_rate_schedule


def test_parse_arg_keeps_tuples_whole():
  variants, overrides = common.parse_arg(
    "quick,classes=(0,6),optimizer.learning_rate=0.1"
  )
  assert variants == {"quick"}
  assert overrides == {"classes": (0, 6), "optimizer.learning_rate": 0.1}


@pytest.mark.parametrize(
  "module, arg",
  [
    (teacher, ""),
    (teacher, "quick"),
    (teacher, "tiny"),
    (teacher, "cifar10"),
    (distill, "online"),
    (distill, "quick,lockstep"),
    (complexity, "quick"),
    (reproduce, ""),
    (reproduce, "quick"),
    (reproduce, "tiny"),
    (reproduce, "cifar10"),
    (reproduce, "cifar100"),
    (reproduce, "mobilenet"),
  ],
)
def test_every_variant_builds_a_usable_config(module, arg):
  config = module.get_config(arg)
  as_json = json.loads(
    config.to_json_best_effort()
  )  # What config.json will hold...
  assert (
    json.loads(ml_collections.ConfigDict(as_json).to_json_best_effort())
    == as_json
  )
  runs = {
    teacher: lambda: [config],
    distill: lambda: [config],
    complexity: list,
    reproduce: lambda: [config.teacher],
  }[module]()
  if module is distill:
    plan.check_fields(config)  # The distill block is valid as written.
    if config.distill.mode == "lockstep":
      runs.append(config.distill.teacher)
  for run in (
    runs
  ):  # ...and each training run in it names a model and a usable recipe.
    assert run.model in MODELS, run.model
    assert run.epochs >= 1 and run.batch_size >= 1 and run.eval_batch_size >= 1
    lr = learning_rate_schedule(run.optimizer, 10, run.epochs)
    assert float(lr(0)) == pytest.approx(run.optimizer.learning_rate)
  if module is reproduce:
    students = records.students_from_config(config.students)
    assert {s.model()[0] for s in students} <= set(MODELS) and config.seeds
    assert all(
      m.mode in plan.MODES for m in records.methods_from_config(config.methods)
    )
  if module is complexity:
    assert config.num_examples > 0 and min(config.temperatures) > 0


def test_overrides_apply_and_unknown_fields_fail():
  config = teacher.get_config("quick,epochs=7,optimizer.learning_rate=0.2")
  assert config.epochs == 7 and config.optimizer.learning_rate == 0.2
  with pytest.raises(ValueError, match="Unknown config field .epoch."):
    teacher.get_config("epoch=3")
  with pytest.raises(ValueError, match="unknown variant"):
    teacher.get_config("quik")


def test_paper_settings_name_the_paper_models():
  c10 = reproduce.get_config("cifar10")
  assert (c10.teacher.dataset, c10.teacher.model) == ("cifar10", "resnet56")
  families = {(s.family, s.width) for s in c10.students.values()}
  assert {
    ("resnet", 20),
    ("lenet5", 8),
  } <= families and c10.teacher.augment.flip
  assert reproduce.get_config("cifar100").teacher.model == "resnet110"
  mobile = reproduce.get_config("mobilenet")
  assert mobile.teacher.model == "mobilenetv3_wide"
  assert {s.family for s in mobile.students.values()} == {"mobilenetv3"}
