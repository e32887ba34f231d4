"""Infinite-width kernels: closed form, neural-tangents twins, Monte-Carlo convergence.

Monte-Carlo tolerance (stated, with its basis): for a 1-hidden-layer ReLU MLP
of width 512 on n = 8 inputs, the relative Frobenius error of the average of m
empirical NTKs to the exact kernel is ~7% at m = 1 and ~1.5% at m = 32 (finite-
width fluctuations shrink like 1/sqrt(width·m)); the test requires the m = 32
error to be below the m = 1 error and below 4%.
"""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk.models import get_model
from kd_ntk.ntk import NTKParamMLP, mlp_kernels_closed_form, monte_carlo_ntk
from kd_ntk.ntk.infinite import missing_package_error

NT_REASON = "neural-tangents is absent only on the core-only leg (newest JAX)"
MC_TOL = 0.04


@pytest.fixture(scope="module")
def x():
  return (
    np.random.default_rng(0).standard_normal((8, 4, 4, 1)).astype(np.float32)
  )


def _frobenius_error(k, ref):
  return float(np.linalg.norm(k - ref) / np.linalg.norm(ref))


def _monte_carlo(model, x, m, seed=0):
  f = lambda p, xx: model.apply({"params": p}, xx)
  init = lambda key: model.init(key, jnp.asarray(x[:1]))["params"]
  return monte_carlo_ntk(
    f, init, x, num_samples=m, rng=jax.random.PRNGKey(seed)
  )


def test_monte_carlo_ntk_approaches_the_infinite_width_kernel(x):
  exact = mlp_kernels_closed_form(x, depth=1, num_classes=10, b_std=0.5)["ntk"]
  model = NTKParamMLP(10, width=512, depth=1, b_std=0.5)
  err_1 = _frobenius_error(_monte_carlo(model, x, 1), exact)
  err_32 = _frobenius_error(_monte_carlo(model, x, 32), exact)
  assert err_32 < err_1
  assert err_32 < MC_TOL, (err_1, err_32)


def test_monte_carlo_of_the_flax_mlp_preset_matches_its_standard_twin(x):
  # Standard parameterisation: the expectation of the finite-width NTK.
  exact = mlp_kernels_closed_form(
    x, depth=1, num_classes=10, width=128, parameterization="standard"
  )["ntk"]
  model = get_model("mlp", 10, width=128)
  err = _frobenius_error(_monte_carlo(model, x, 32, seed=1), exact)
  assert err < 2 * MC_TOL, err


def test_monte_carlo_is_the_mean_of_empirical_kernels(x):
  from kd_ntk.ntk import empirical_ntk  # pylint: disable=g-import-not-at-top

  model = NTKParamMLP(3, width=16)
  f = lambda p, xx: model.apply({"params": p}, xx)
  init = lambda key: model.init(key, jnp.asarray(x[:1]))["params"]
  keys = jax.random.split(jax.random.PRNGKey(5), 2)
  mean = np.mean(
    [empirical_ntk(f, init(k), x, output="diagonal") for k in keys], axis=0
  )
  got = monte_carlo_ntk(
    f, init, x, num_samples=2, rng=jax.random.PRNGKey(5), output="diagonal"
  )
  assert got.dtype == np.float64
  np.testing.assert_allclose(got, mean, rtol=1e-6)
  with pytest.raises(ValueError, match="num_samples"):
    monte_carlo_ntk(f, init, x, num_samples=0, rng=jax.random.PRNGKey(0))


def test_closed_form_kernels_basic_properties(x):
  per_logit = mlp_kernels_closed_form(
    x, depth=2, num_classes=10, output="per_logit"
  )
  trace = mlp_kernels_closed_form(x, depth=2, num_classes=10)
  np.testing.assert_allclose(trace["ntk"], 10 * per_logit["ntk"])
  for k in per_logit.values():
    np.testing.assert_allclose(k, k.T, atol=1e-12)
    assert np.linalg.eigvalsh(k).min() > -1e-10
  with pytest.raises(ValueError, match="width"):
    mlp_kernels_closed_form(
      x, depth=1, num_classes=2, parameterization="standard"
    )


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_stax_twin_kernels_match_the_closed_form(x, parameterization):
  pytest.importorskip("neural_tangents", reason=NT_REASON)
  from kd_ntk.ntk import infinite_kernels  # pylint: disable=g-import-not-at-top

  x2 = x[:3] + 0.25
  got = infinite_kernels(
    "mlp",
    x,
    x2,
    num_classes=10,
    parameterization=parameterization,
    width=64,
    depth=2,
    b_std=0.5,
  )
  want = mlp_kernels_closed_form(
    x,
    x2,
    depth=2,
    num_classes=10,
    width=64,
    parameterization=parameterization,
    b_std=0.5,
  )
  for name in ("nngp", "ntk"):
    assert got[name].dtype == np.float64 and got[name].shape == (8, 3)
    np.testing.assert_allclose(got[name], want[name], rtol=1e-6)


def test_cnn_twin_needs_no_batchnorm_and_gives_a_psd_kernel(x):
  pytest.importorskip("neural_tangents", reason=NT_REASON)
  from kd_ntk.ntk import infinite_kernels  # pylint: disable=g-import-not-at-top

  with pytest.raises(ValueError, match="use_batchnorm=False"):
    infinite_kernels("cnn_tiny", x, num_classes=10)
  k = infinite_kernels("cnn_tiny", x[:4], num_classes=10, use_batchnorm=False)[
    "ntk"
  ]
  assert k.shape == (4, 4)
  assert np.linalg.eigvalsh(k).min() > 0
  with pytest.raises(ValueError, match="No stax twin for 'mobilenetv3_small'"):
    infinite_kernels("mobilenetv3_small", x, num_classes=10)


def test_norm_free_resnet_twin_is_the_shortcut_path_at_initialisation():
  # Zero SkipInit gains: the residual branches vanish, so depth cannot change
  # the kernel; ResNets with BatchNorm have no twin.
  pytest.importorskip("neural_tangents", reason=NT_REASON)
  from kd_ntk.ntk import infinite_kernels  # pylint: disable=g-import-not-at-top

  x8 = np.random.default_rng(2).standard_normal((4, 8, 8, 1)).astype(np.float32)
  k8 = infinite_kernels("resnet8_nf", x8, num_classes=3)["ntk"]
  k20 = infinite_kernels("resnet20_nf", x8, num_classes=3)["ntk"]
  np.testing.assert_allclose(k8, k20, rtol=1e-12)
  assert np.linalg.eigvalsh(k8).min() > 0
  with pytest.raises(ValueError, match="ResNets only with norm='none'"):
    infinite_kernels("resnet8", x8, num_classes=3)


def test_missing_packages_are_named_with_an_install_hint():
  for name, expect in [
    ("tensorflow", "pip install tensorflow-cpu"),
    ("tensorflow.python", "pip install tensorflow-cpu"),
    ("neural_tangents", "pip install neural-tangents"),
  ]:
    err = missing_package_error(
      ModuleNotFoundError(f"No module named {name!r}", name=name)
    )
    assert isinstance(err, ImportError) and expect in str(err), name
  other = missing_package_error(
    ImportError("cannot import name 'Jaxpr' from 'jax.core'")
  )
  assert "jax<0.6" in str(other)


def test_infinite_kernels_raise_import_error_without_neural_tangents(
  monkeypatch, x
):
  from kd_ntk.ntk import infinite_kernels  # pylint: disable=g-import-not-at-top

  monkeypatch.setitem(sys.modules, "neural_tangents", None)  # import now fails
  with pytest.raises(ImportError, match="neural-tangents"):
    infinite_kernels("mlp", x, num_classes=10)


def test_importing_kd_ntk_ntk_loads_neither_tensorflow_nor_neural_tangents():
  code = (
    "import kd_ntk.ntk, sys; "
    "assert 'tensorflow' not in sys.modules and 'neural_tangents' not in sys.modules"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=False
  )
  assert out.returncode == 0, out.stderr[-2000:]
