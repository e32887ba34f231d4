"""Reproduction records and choices checked before work (the end-to-end run of
the tiny configuration, in parts, is tests/test_launchers.py)."""

import os

import pytest

from kd_ntk.configs import reproduce as reproduce_config
from kd_ntk.experiment import reproduce
from kd_ntk.experiment.reproduction_plan import plan_of


def test_bad_records_fail_before_any_work(tmp_path):
  config = reproduce_config.get_config("tiny")
  config.methods["broken"] = {"mode": "offline_t4"}
  with pytest.raises(ValueError, match="mode must be one of"):
    reproduce.run(config, str(tmp_path / "w"))
  config = reproduce_config.get_config("tiny,early.candidates=(5,)")
  with pytest.raises(ValueError, match="early.candidates"):
    reproduce.run(config, str(tmp_path / "w"))
  assert not os.path.exists(tmp_path / "w")


def test_kernel_student_is_the_configured_width_of_the_claims_family():
  config = reproduce_config.get_config("")
  plan = plan_of(config)
  chosen = plan.kernel_student
  assert (chosen.family, chosen.width) == ("cnn", 8)
  assert plan.analysis_student.width == 2
  config.complexity.student_width = 0
  assert plan_of(config).kernel_student.width == 2
  config.complexity.student_width = 5
  with pytest.raises(ValueError, match=r"has widths \[2, 4, 8\]"):
    plan_of(config)
