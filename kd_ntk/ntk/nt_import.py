"""neural-tangents, imported only when asked for, with an error that says what
to install.

neural-tangents 0.6.5 imports TensorFlow and does not import on JAX ≥ 0.6, so
kd_ntk never imports it at module level. Every module that needs it
(`kd_ntk.ntk.infinite`, `kd_ntk.ntk.twins`, `kd_ntk.ntk.kernel_choice`) calls
`import_neural_tangents()` here, which keeps them free of import cycles.
"""

import jax


def missing_package_error(err: ImportError) -> ImportError:
  """An ImportError naming the missing package and how to install it."""
  name = getattr(err, "name", None) or ""
  if name.split(".")[0] == "tensorflow":
    return ImportError(
      "kd_ntk.ntk.infinite needs neural-tangents, whose import needs TensorFlow, "
      "which is not installed: pip install tensorflow-cpu==2.21.0 (the verified "
      "stack, see requirements.txt)."
    )
  if name.split(".")[0] == "neural_tangents":
    return ImportError(
      "kd_ntk.ntk.infinite needs neural-tangents, which is not installed: pip "
      "install neural-tangents==0.6.5 tensorflow-cpu==2.21.0 (it needs jax<0.6; "
      "see requirements.txt). Without it, use mlp_kernels_closed_form for MLPs."
    )
  return ImportError(
    f"neural-tangents failed to import on jax {jax.__version__} ({err}); "
    "neural-tangents 0.6.5 needs jax<0.6 (jax 0.5.3 is verified, see "
    "requirements.txt). Without it, use mlp_kernels_closed_form for MLPs."
  )


def import_neural_tangents():
  """`import neural_tangents`, or an ImportError that says what to install."""
  try:
    import neural_tangents as nt  # pylint: disable=g-import-not-at-top
  except ImportError as err:
    raise missing_package_error(err) from err
  return nt
