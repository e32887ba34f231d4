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
  "kd_ntk.scoring",
  "kd_ntk.teachers",
  "kd_ntk.models.adapter",
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


def test_import_kd_ntk_gives_its_subpackages_lazily():
  """`import kd_ntk` loads no subpackage (not even JAX); attribute access does,
  still without TensorFlow or neural-tangents."""
  code = (
    "import sys, kd_ntk\n"
    "print('jax' in sys.modules, 'kd_ntk.ntk' in sys.modules)\n"
    "print(kd_ntk.ntk.empirical_ntk.__name__, kd_ntk.complexity.one_hot.__name__,"
    " kd_ntk.score_teacher.__name__, kd_ntk.load_teacher.__name__)\n"
    "print(all(hasattr(kd_ntk, name) for name in kd_ntk.__all__))\n"
    "print(sorted(m for m in ('tensorflow', 'neural_tangents') if m in sys.modules))\n"
    "try:\n"
    "  kd_ntk.no_such_module\n"
    "except AttributeError as err:\n"
    "  print(err)\n"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=False
  )
  assert out.returncode == 0, out.stderr
  assert out.stdout.splitlines() == [
    "False False",
    "empirical_ntk one_hot score_teacher load_teacher",
    "True",
    "[]",
    "module 'kd_ntk' has no attribute 'no_such_module'",
  ]
