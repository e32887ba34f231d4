"""Bad-input fixtures: a session temp folder (the tiny teacher run is
`teacher_dir` in tests/conftest.py)."""

import pytest


@pytest.fixture(scope="session")
def root(tmp_path_factory):
  return str(tmp_path_factory.mktemp("bad_inputs"))
