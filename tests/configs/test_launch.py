"""Launchers turn bad input and divergence into one-line exits."""

import pytest

from kd_ntk.configs.launch import run_or_exit


def test_bad_input_exits_with_the_message():
  def bad():
    raise FileNotFoundError("no data in /nowhere")
  with pytest.raises(SystemExit, match="error: no data in /nowhere"):
    run_or_exit(bad)


def test_divergence_exits_as_diverged_and_results_pass_through():
  def diverge():
    raise FloatingPointError("loss nan at epoch 3")
  with pytest.raises(SystemExit, match="diverged: loss nan at epoch 3"):
    run_or_exit(diverge)
  assert run_or_exit(lambda x, y=0: x + y, 2, y=3) == 5
