"""Config files: variants, overrides and clear errors."""

import pytest

from kd_ntk.configs import common, complexity, distill, reproduce, teacher


def test_parse_arg_keeps_tuples_whole():
  variants, overrides = common.parse_arg("quick,classes=(0,6),optimizer.learning_rate=0.1")
  assert variants == {"quick"}
  assert overrides == {"classes": (0, 6), "optimizer.learning_rate": 0.1}


@pytest.mark.parametrize("module, arg", [
    (teacher, ""), (teacher, "quick"), (teacher, "tiny"), (teacher, "cifar10"),
    (distill, "online"), (distill, "quick,lockstep"), (complexity, "quick"),
    (reproduce, ""), (reproduce, "quick"), (reproduce, "tiny"), (reproduce, "cifar10"),
    (reproduce, "cifar100"), (reproduce, "mobilenet")])
def test_every_variant_builds(module, arg):
  config = module.get_config(arg)
  assert config is not None


def test_overrides_apply_and_unknown_fields_fail():
  config = teacher.get_config("quick,epochs=7,optimizer.learning_rate=0.2")
  assert config.epochs == 7 and config.optimizer.learning_rate == 0.2
  with pytest.raises(KeyError, match="Unknown config field 'epoch'"):
    teacher.get_config("epoch=3")
  with pytest.raises(ValueError, match="unknown variant"):
    teacher.get_config("quik")


def test_paper_settings_name_the_paper_models():
  c10 = reproduce.get_config("cifar10")
  assert (c10.teacher.dataset, c10.teacher.model) == ("cifar10", "resnet56")
  families = {(s.family, s.width) for s in c10.students.values()}
  assert {("resnet", 20), ("lenet5", 8)} <= families and c10.teacher.augment.flip
  assert reproduce.get_config("cifar100").teacher.model == "resnet110"
  mobile = reproduce.get_config("mobilenet")
  assert mobile.teacher.model == "mobilenetv3_wide"
  assert {s.family for s in mobile.students.values()} == {"mobilenetv3"}
