"""C6's candidates: a quarter and a half of the teacher's training are required."""

import pytest

from kd_ntk.experiment import teacher_selection
from kd_ntk.configs import reproduce as reproduce_config


def test_early_epochs_are_a_quarter_and_a_half():
  assert teacher_selection.early_epochs(30) == (7, 15)
  assert teacher_selection.early_epochs(10) == (2, 5)
  assert teacher_selection.early_epochs(256) == (64, 128)
  assert teacher_selection.early_epochs(2) == (1, 1)


def test_candidates_without_early_epochs_are_refused():
  with pytest.raises(ValueError, match=r"must include \[7\]"):
    teacher_selection.check_candidates((5, 10, 15, 20), 30, "val_loss")
  with pytest.raises(ValueError, match="teacher epochs in 1..30"):
    teacher_selection.check_candidates((7, 15, 31), 30, "val_loss")
  teacher_selection.check_candidates((7, 15, 20), 30, "val_accuracy")


@pytest.mark.parametrize("arg", ["", "quick", "tiny", "cifar10", "cifar100"])
def test_shipped_configs_have_genuinely_early_candidates(arg):
  c = reproduce_config.get_config(arg)
  teacher_selection.check_candidates(
    c.early.candidates, c.teacher.epochs, c.early.criterion
  )
