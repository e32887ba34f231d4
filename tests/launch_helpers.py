"""Running the scripts of experiments/ as a user would: a subprocess in the repo root."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(
  script: str, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess:
  """Runs `python experiments/<script> args...` from the repository root.

  PYTHONPATH puts this checkout first (an installed kd_ntk elsewhere must not
  answer); the data folder and XLA flags of the test session are inherited.
  """
  env = dict(
    os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
  )
  return subprocess.run(
    [sys.executable, os.path.join("experiments", script), *args],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )


def json_lines(text: str):
  """The JSON objects among the lines of a benchmark's output."""
  return [
    json.loads(line) for line in text.splitlines() if line.startswith("{")
  ]
