"""A run's checks before it touches anything (`kd_ntk.train.preflight`), and
the reproduction's one validation pass (`kd_ntk.experiment.preflight`)."""

import os

import pytest

from kd_ntk.configs import reproduce as reproduce_config
from kd_ntk.configs import teacher as teacher_config
from kd_ntk.configs.common import ConfigError
from kd_ntk.experiment import preflight as experiment_preflight
from kd_ntk.experiment import reproduce
from kd_ntk.experiment.reproduction_plan import Part
from kd_ntk.train import loop as train_loop
from kd_ntk.train import preflight


def test_fields_devices_and_model_in_one_message():
  config = teacher_config.get_config("tiny,batch_size=6,epochs=0")
  config.model_kwargs = {"width": -3}
  with pytest.raises(ConfigError) as err:
    preflight.check_training_config(config)
  message = str(err.value)
  assert "epochs=0 must be an integer >= 1" in message  # Its own field.
  assert "batch_size=6 must be divisible by the 4 devices" in message
  assert "model_kwargs.width=-3 must be positive" in message
  assert "\n" not in message


def test_a_checked_run_still_checks_its_workdir(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  config = teacher_config.get_config("tiny")
  with pytest.raises(ValueError, match="file"):
    train_loop.run(config, str(blocker / "run"), checked=True)
  assert blocker.read_text() == "not a directory"


def test_the_reproduction_checks_each_config_once_before_any_run(
  tmp_path, monkeypatch
):
  checked = []
  real = preflight.check_training_config
  monkeypatch.setattr(
    experiment_preflight,
    "check_training_config",
    lambda config, workdir=None: (
      checked.append(config) or real(config, workdir)
    ),
  )
  config = reproduce_config.get_config("tiny")
  workdir = str(tmp_path / "w")
  with pytest.raises(ValueError, match="--part=teachers first"):
    reproduce.run(config, workdir, part=Part("students", (0, 1)))
  grid_configs = len(config.students) * len(config.methods) + len(
    config.binary.methods
  )
  # The teacher, the two-class teacher and one config per (task, student,
  # method) of the grid (the two-class task trains one student).
  assert len(checked) == 2 + grid_configs
  assert not os.path.exists(workdir)
