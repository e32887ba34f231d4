"""Launchers turn bad input and divergence into one-line exits."""

import pytest

from kd_ntk import cli


def test_bad_input_exits_2_with_one_line(capsys):
  def bad():
    raise FileNotFoundError("no data in /nowhere")

  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(bad)
  assert exit_info.value.code == cli.EXIT_BAD_INPUT == 2
  assert capsys.readouterr().err == "error: no data in /nowhere\n"


def test_key_error_loses_its_quotes(capsys):
  def bad():
    raise KeyError("Unknown field 'x'")

  with pytest.raises(SystemExit):
    cli.run_or_exit(bad)
  assert capsys.readouterr().err == "error: Unknown field 'x'\n"


def test_divergence_exits_3_and_results_pass_through(capsys):
  def diverge():
    raise FloatingPointError("loss nan\nat epoch 3")

  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(diverge)
  assert exit_info.value.code == cli.EXIT_DIVERGED == 3
  assert capsys.readouterr().err == "diverged: loss nan at epoch 3\n"
  assert cli.run_or_exit(lambda x, y=0: x + y, 2, y=3) == 5


def test_log_verbosity_is_restored_after_the_call():
  from absl import logging

  before = logging.get_verbosity()
  logging.set_verbosity(logging.DEBUG)
  seen = cli.run_or_exit(logging.get_verbosity)
  assert seen == logging.WARNING and logging.get_verbosity() == logging.DEBUG
  logging.set_verbosity(before)


def test_bugs_keep_their_traceback():
  def bug():
    raise ZeroDivisionError("a bug, not bad input")

  with pytest.raises(ZeroDivisionError):
    cli.run_or_exit(bug)
