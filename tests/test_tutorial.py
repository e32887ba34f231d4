"""The executed tutorial (docs/tutorial.py) runs to the end within 2 minutes.

It runs as a script in a fresh Python process, as a reader would run it, on
the session's synthetic Fashion-MNIST and, in `test_real_data_*`, on the real
one; any exception or missing output fails. The budget is counted in CPU
seconds of the tutorial's process (user + system), which other jobs on the
machine do not inflate (its wall time does: 2-4 times its CPU time on a 2-core
machine at load average 14): more than `BUDGET_S` fails. A run past `HANG_S`
wall seconds is killed and fails. On the real data the complexity claim C1 must also hold in
its table: random labels > labels > the trained teacher at τ = 4.
"""

import csv
import importlib.util
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
TUTORIAL = REPO / "docs" / "tutorial.py"
BUDGET_S = 120  # CI's limit for the tutorial (issue 28), CPU seconds
HANG_S = 600  # wall seconds before the run is killed
EPOCHS, TEMPERATURES = 6, (1, 2, 4, 8)  # as in the tutorial


def _children_cpu() -> float:
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def run_tutorial(tmp_path, data_dir: str) -> tuple[str, dict]:
  """Runs the tutorial; returns its stdout and {(target, ckpt, τ): row}."""
  env = {
    **os.environ,
    "KD_NTK_FASHION_MNIST_DIR": data_dir,
    "KD_NTK_TUTORIAL_DIR": str(tmp_path),
    "MPLBACKEND": "Agg",
    "PYTHONPATH": str(REPO),
  }
  start, cpu_start = time.monotonic(), _children_cpu()
  try:
    out = subprocess.run(
      [sys.executable, str(TUTORIAL)],
      cwd=tmp_path,
      env=env,
      capture_output=True,
      text=True,
      check=False,
      timeout=HANG_S,
    )
  except subprocess.TimeoutExpired as e:
    pytest.fail(f"docs/tutorial.py ran past {HANG_S} s: {e.stdout!r}")
  elapsed, cpu = time.monotonic() - start, _children_cpu() - cpu_start
  assert out.returncode == 0, f"docs/tutorial.py failed:\n{out.stderr[-4000:]}"
  print(f"tutorial: {cpu:.1f} CPU s, {elapsed:.1f} s wall")
  assert cpu <= BUDGET_S, f"docs/tutorial.py took {cpu:.0f} CPU s > {BUDGET_S}"
  assert "tutorial done" in out.stdout, out.stdout[-2000:]
  png = (tmp_path / "asc_vs_checkpoint.png").read_bytes()
  assert png.startswith(b"\x89PNG") and len(png) > 10_000
  with open(tmp_path / "scores.csv") as fh:
    rows = {
      (r["target"], r["checkpoint"], r["temperature"]): r
      for r in csv.DictReader(fh)
    }
  return out.stdout, rows


def _check_outputs(stdout: str, rows: dict) -> None:
  expected = {("labels", "", ""), ("random_labels", "", "")} | {
    ("teacher", str(e), str(float(t)))
    for e in range(EPOCHS + 1)
    for t in TEMPERATURES
  }
  assert set(rows) == expected
  assert all(float(r["asc"]) > 0 for r in rows.values())
  assert "kd_ntk: ASC labels" in stdout and "monte_carlo: ASC labels" in stdout
  if importlib.util.find_spec("neural_tangents") is not None:
    # The tutorial asserts the agreement itself; here: that the check ran.
    assert "max |K_kd(mean) − K_nt|" in stdout
    ratio = re.search(r"tr K_kd\(sum\) / tr K_nt = ([\d.]+)", stdout)
    assert ratio and abs(float(ratio.group(1)) - 10) < 1e-3, stdout[-1500:]
    assert "neural_tangents: ASC labels" in stdout


def test_tutorial_runs_on_the_synthetic_data(tmp_path, synthetic_fashion_mnist):
  stdout, rows = run_tutorial(tmp_path, synthetic_fashion_mnist)
  _check_outputs(stdout, rows)


def test_real_data_tutorial_shows_c1(tmp_path, real_fashion_mnist_dir):
  stdout, rows = run_tutorial(tmp_path, real_fashion_mnist_dir)
  _check_outputs(stdout, rows)
  asc = {key: float(row["asc"]) for key, row in rows.items()}
  random, labels = asc[("random_labels", "", "")], asc[("labels", "", "")]
  teacher = asc[("teacher", str(EPOCHS), "4.0")]
  assert random > labels > teacher, (random, labels, teacher)


def test_the_notebook_is_the_script(tmp_path):
  """docs/tutorial.ipynb holds the script's cells (docs/make_notebook.py)."""
  out = subprocess.run(
    [sys.executable, str(REPO / "docs" / "make_notebook.py"), "--check"],
    capture_output=True,
    text=True,
    check=False,
  )
  assert out.returncode == 0, out.stderr
  notebook = json.loads((REPO / "docs" / "tutorial.ipynb").read_text())
  assert notebook["nbformat"] == 4
  code = "".join(
    "".join(cell["source"]) + "\n"
    for cell in notebook["cells"]
    if cell["cell_type"] == "code"
  )
  script = TUTORIAL.read_text()
  # Every code line of the script is in the notebook's code cells, in order.
  script_code = [
    line
    for line in script.splitlines()
    if line.strip() and not line.startswith("#")
  ]
  notebook_code = [
    line
    for line in code.splitlines()
    if line.strip() and not line.startswith("#")
  ]
  assert notebook_code == script_code
  kinds = [cell["cell_type"] for cell in notebook["cells"]]
  assert kinds.count("markdown") == script.count("# %% [markdown]")
