"""IDX reader: round trip, header validation, dataset-level checks."""

import os

import numpy as np
import pytest

from kd_ntk import data
from kd_ntk.data import idx


def _write_split(folder, prefix, images, labels):
  idx.write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), images)
  idx.write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), labels)


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_round_trip(tmp_path, suffix, dtype):
  array = (np.arange(2 * 3 * 5) % 7).astype(dtype).reshape(2, 3, 5)
  path = str(tmp_path / f"a.idx{suffix}")
  idx.write_idx(path, array)
  back = idx.read_idx(path)
  assert back.dtype == np.dtype(dtype)
  np.testing.assert_array_equal(back, array)


def test_bad_magic_rejected(tmp_path):
  path = tmp_path / "bad.idx"
  path.write_bytes(
    b"\x01\x00\x08\x01" + np.asarray([3], ">u4").tobytes() + b"abc"
  )
  with pytest.raises(idx.IdxFormatError, match="magic"):
    idx.read_idx(str(path))


def test_truncated_payload_rejected(tmp_path):
  path = tmp_path / "short.idx"
  path.write_bytes(
    b"\x00\x00\x08\x01" + np.asarray([10], ">u4").tobytes() + b"abc"
  )
  with pytest.raises(idx.IdxFormatError, match="truncated or corrupt"):
    idx.read_idx(str(path))


def test_corrupt_gzip_names_the_path(tmp_path):
  path = tmp_path / "x.idx.gz"
  path.write_bytes(b"not gzip at all")
  with pytest.raises(idx.IdxFormatError, match=str(path)):
    idx.read_idx(str(path))


def test_load_from_folder_and_env(tmp_path, monkeypatch):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
  labels = rng.integers(0, 10, 20).astype(np.uint8)
  _write_split(str(tmp_path), "train", images, labels)
  x, y, info = data.load("fashion_mnist", "train", data_dir=str(tmp_path))
  assert x.shape == (20, 28, 28, 1) and x.dtype == np.uint8
  np.testing.assert_array_equal(y, labels)
  assert info.num_classes == 10 and info.image_shape == (28, 28, 1)
  monkeypatch.setenv("KD_NTK_FASHION_MNIST_DIR", str(tmp_path))
  x2, _, info2 = data.load("fashion_mnist", "train")
  np.testing.assert_array_equal(x2, x)
  assert info2.location == str(tmp_path)


def test_label_out_of_range_rejected(tmp_path):
  _write_split(
    str(tmp_path),
    "t10k",
    np.zeros((3, 28, 28), np.uint8),
    np.asarray([0, 12, 1], np.uint8),
  )
  with pytest.raises(idx.IdxFormatError, match="labels must lie in"):
    data.load("fashion_mnist", "test", data_dir=str(tmp_path))


def test_missing_data_explains_the_fix(tmp_path):
  with pytest.raises(
    FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"
  ):
    data.load("fashion_mnist", "train", data_dir=str(tmp_path))


def test_real_data_fashion_mnist_test_split(real_fashion_mnist_dir):
  x, y, info = data.load(
    "fashion_mnist", "test", data_dir=real_fashion_mnist_dir
  )
  assert x.shape == (10000, 28, 28, 1)
  np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))
