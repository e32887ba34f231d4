"""Student-loop fixtures: one tiny teacher run, trained once per session."""

import os

import pytest

from kd_ntk.configs import teacher as teacher_config
from kd_ntk.train import loop as train_loop


@pytest.fixture(scope="session")
def root(tmp_path_factory):
  return str(tmp_path_factory.mktemp("distill"))


@pytest.fixture(scope="session")
def teacher_dir(root):
  """MLP width 8, 128 examples, 2 epochs, run by `kd_ntk.train.loop.run`."""
  workdir = os.path.join(root, "teacher")
  train_loop.run(teacher_config.get_config("tiny,epochs=2"), workdir)
  return workdir
