"""TFDS path, tested on mock data (nothing is downloaded)."""

import numpy as np
import pytest


def test_mock_cifar10_loads_into_numpy():
  tfds = pytest.importorskip(
    "tensorflow_datasets",
    reason="TFDS is absent on the core-only (newest JAX) leg",
  )
  from kd_ntk import data

  with tfds.testing.mock_data(num_examples=12):
    images, labels, info = data.load("cifar10", "train")
  assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
  assert labels.shape == (12,) and labels.dtype == np.int32
  assert info.num_classes == 10 and info.source == "tfds"
  assert labels.min() >= 0 and labels.max() < 10


def test_missing_tfds_dataset_explains_the_fix(tmp_path):
  pytest.importorskip(
    "tensorflow_datasets",
    reason="TFDS is absent on the core-only (newest JAX) leg",
  )
  from kd_ntk import data

  with pytest.raises(FileNotFoundError, match="tfds build cifar10"):
    data.load("cifar10", "train", data_dir=str(tmp_path))


def test_teacher_trains_on_mock_cifar10(tmp_path):
  """The TFDS path end to end: a one-epoch run on mock CIFAR-10 with augmentation."""
  tfds = pytest.importorskip(
    "tensorflow_datasets",
    reason="TFDS is absent on the core-only (newest JAX) leg",
  )
  from kd_ntk.configs import teacher
  from kd_ntk.train import loop

  config = teacher.get_config(
    "tiny,dataset='cifar10',augment.pad=4,augment.flip=True"
  )
  with tfds.testing.mock_data(num_examples=128):
    rows = loop.run(config, str(tmp_path))
  assert [r["epoch"] for r in rows] == [0, 1]
  assert (
    np.isfinite(rows[-1]["train_loss"])
    and 0.0 <= rows[-1]["test_accuracy"] <= 1.0
  )
