"""Installs the kd_ntk package (dependencies: requirements.txt)."""

from setuptools import find_packages, setup

setup(
  name="kd_ntk",
  version="0.1.0",
  description=(
    "Knowledge distillation through the student's neural tangent kernel: "
    "supervision complexity, online distillation, NTK engine."
  ),
  packages=find_packages(include=["kd_ntk", "kd_ntk.*"]),
  python_requires=">=3.10",
  # Only the core needed to import and run on the newest JAX; the pinned stack
  # (TensorFlow, neural-tangents, TFDS) lives in requirements.txt.
  install_requires=[
    "jax",
    "flax",
    "optax",
    "orbax-checkpoint",
    "absl-py",
    "ml-collections",
    "numpy",
    "scipy",
    "matplotlib",
    "tensorboardX",  # every run's TensorBoard events (kd_ntk/train/event_file.py)
  ],
)
