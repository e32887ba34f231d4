"""Bad-input fixtures: one tiny teacher run, trained once per session."""

import os

import pytest

from kd_ntk.configs import teacher as teacher_config
from kd_ntk.train import loop


@pytest.fixture(scope="session")
def root(tmp_path_factory):
  return str(tmp_path_factory.mktemp("bad_inputs"))


@pytest.fixture(scope="session")
def teacher_dir(root):
  path = os.path.join(root, "teacher")
  loop.run(teacher_config.get_config("tiny,epochs=2"), path)
  return path
