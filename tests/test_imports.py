"""`import kd_ntk` and its core modules load neither TensorFlow nor neural-tangents."""

import subprocess
import sys

CORE_MODULES = [
  "kd_ntk",
  "kd_ntk.data",
  "kd_ntk.models",
  "kd_ntk.train.loop",
  "kd_ntk.train.runs",
  "kd_ntk.ntk",
  "kd_ntk.complexity",
  "kd_ntk.distill",
  "kd_ntk.metrics",
]


def test_core_imports_without_tensorflow_or_neural_tangents():
  code = (
    "import importlib, sys\n"
    f"for name in {CORE_MODULES!r}:\n"
    "  importlib.import_module(name)\n"
    "heavy = sorted(m for m in ('tensorflow', 'neural_tangents', 'tensorflow_datasets')"
    " if m in sys.modules)\n"
    "print(','.join(heavy))\n"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=False
  )
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "", (
    f"core import pulled in: {out.stdout.strip()}"
  )


def test_importing_plots_leaves_the_matplotlib_backend_alone():
  code = (
    "import sys, matplotlib\n"
    "matplotlib.use('svg')\n"
    "import kd_ntk.reports.plots\n"
    "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=False
  )
  assert out.returncode == 0, out.stderr
  assert out.stdout.split() == ["svg", "False"]
