"""Test set-up: four fake CPU devices, a synthetic Fashion-MNIST, and skips
allowed only on the core-only leg.

Sharded code is exercised with several devices on one CPU through
`--xla_force_host_platform_device_count=4` (it must be set before JAX starts).

Every test reads a tiny synthetic data set in the Fashion-MNIST IDX layout
(`synthetic_fashion_mnist`, written with kd_ntk's own IDX writer at session
start; $KD_NTK_FASHION_MNIST_DIR points at it, so launchers run in subprocesses
see it too; under pytest-xdist each worker process writes its own). Only tests
named `test_real_data_*` read the real files, through the
`real_fashion_mnist_dir` fixture, and skip with the install command when they
are missing.

Tests that need TensorFlow or neural-tangents call
`pytest.importorskip(name, reason="... core-only leg ...")`. Those skips are
legitimate only on CI's core-only leg (newest JAX, neither package installed),
which sets KD_NTK_CORE_ONLY=1; anywhere else such a skip (or any import skip)
becomes a failure, so the pinned leg cannot pass by skipping.
"""

import os

os.environ["XLA_FLAGS"] = (
  os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()

import glob  # noqa: E402
import struct  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

CORE_ONLY = os.environ.get("KD_NTK_CORE_ONLY") == "1"
# Where the real Fashion-MNIST is, before the session points the variable elsewhere.
REAL_FASHION_MNIST_DIR = (
  os.environ.get("KD_NTK_FASHION_MNIST_DIR")
  or "/usr/share/datasets/fashion-mnist"
)
SYNTHETIC_PER_CLASS = {
  "train": 120,
  "t10k": 30,
}  # 1,200 / 300 images of 10 classes.


def write_synthetic_fashion_mnist(folder: str, seed: int = 0) -> None:
  """Writes the four IDX files of a tiny, learnable Fashion-MNIST look-alike.

  Class c's images are a fixed smooth random pattern of class c (28×28) plus
  pixel noise, as uint8; labels are shuffled so the classes interleave. A
  linear model separates the classes, so training lowers the loss.
  """
  from kd_ntk.data import write_idx

  rng = np.random.default_rng(seed)
  coarse = rng.normal(size=(10, 7, 7))
  templates = np.kron(
    coarse, np.ones((4, 4))
  )  # (10, 28, 28), blocks of 4×4 pixels.
  for prefix, per_class in SYNTHETIC_PER_CLASS.items():
    labels = rng.permutation(
      np.repeat(np.arange(10, dtype=np.uint8), per_class)
    )
    pixels = (
      110 + 45 * templates[labels] + 35 * rng.normal(size=(len(labels), 28, 28))
    )
    write_idx(
      os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"),
      np.clip(np.rint(pixels), 0, 255).astype(np.uint8),
    )
    write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), labels)


@pytest.fixture(scope="session", autouse=True)
def synthetic_fashion_mnist(tmp_path_factory):
  """The synthetic IDX folder, set as $KD_NTK_FASHION_MNIST_DIR for the session."""
  folder = str(tmp_path_factory.mktemp("synthetic_fashion_mnist"))
  write_synthetic_fashion_mnist(folder)
  previous = os.environ.get("KD_NTK_FASHION_MNIST_DIR")
  os.environ["KD_NTK_FASHION_MNIST_DIR"] = folder
  yield folder
  if previous is None:
    del os.environ["KD_NTK_FASHION_MNIST_DIR"]
  else:
    os.environ["KD_NTK_FASHION_MNIST_DIR"] = previous


@pytest.fixture
def real_fashion_mnist_dir():
  """The real Fashion-MNIST folder; skips, saying how to install it, when absent."""
  folder = REAL_FASHION_MNIST_DIR
  if not any(
    os.path.exists(os.path.join(folder, f"t10k-labels-idx1-ubyte{ext}"))
    for ext in (".gz", "")
  ):
    pytest.skip(
      f"the real Fashion-MNIST is not in {folder}: install it with "
      "`sudo apt-get install -y dataset-fashion-mnist` (or ./run.sh test), or "
      "point KD_NTK_FASHION_MNIST_DIR at a folder with its four IDX files"
    )
  return folder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  outcome = yield
  report = outcome.get_result()
  if report.skipped and not CORE_ONLY and call.excinfo is not None:
    message = str(call.excinfo.value)
    if any(
      s in message for s in ("core-only", "could not import", "No module named")
    ):
      report.outcome = "failed"
      report.longrepr = (
        f"{message}\nOptional packages may be missing only on the "
        "core-only leg (KD_NTK_CORE_ONLY=1); install requirements.txt."
      )


def _fields(buf: bytes):
  """(field number, wire type, value) of a serialised protobuf message."""
  pos = 0
  while pos < len(buf):
    key, pos = _varint(buf, pos)
    number, wire = key >> 3, key & 7
    if wire == 0:
      value, pos = _varint(buf, pos)
    elif wire == 1:
      value, pos = buf[pos : pos + 8], pos + 8
    elif wire == 5:
      value, pos = buf[pos : pos + 4], pos + 4
    elif wire == 2:
      size, pos = _varint(buf, pos)
      value, pos = buf[pos : pos + size], pos + size
    else:
      raise ValueError(f"unexpected wire type {wire}")
    yield number, wire, value


def _varint(buf: bytes, pos: int):
  shift = result = 0
  while True:
    byte = buf[pos]
    pos += 1
    result |= (byte & 0x7F) << shift
    shift += 7
    if not byte & 0x80:
      return result, pos


def read_event_scalars(logdir: str):
  """{tag: [(step, value), ...]} of every events.out.tfevents.* file in `logdir`.

  The protobuf is decoded here, independently of kd_ntk's encoder; the CRC is
  kd_ntk's (itself checked against the published CRC-32C check value).
  """
  from kd_ntk.train.event_file import masked_crc32c

  scalars = {}
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    raw = open(path, "rb").read()
    pos = 0
    while pos < len(raw):
      header = raw[pos : pos + 8]
      (length,) = struct.unpack("<Q", header)
      (header_crc,) = struct.unpack("<I", raw[pos + 8 : pos + 12])
      data = raw[pos + 12 : pos + 12 + length]
      (data_crc,) = struct.unpack(
        "<I", raw[pos + 12 + length : pos + 16 + length]
      )
      if header_crc != masked_crc32c(header) or data_crc != masked_crc32c(data):
        raise ValueError(f"{path}: record at byte {pos} fails its checksum")
      pos += 16 + length
      step = 0
      for number, _, value in _fields(data):
        if number == 2:
          step = value
        if number == 5:  # Summary
          for _, _, entry in _fields(value):
            tag = val = None
            for n, _, v in _fields(entry):
              if n == 1:
                tag = v.decode()
              elif n == 2:
                (val,) = struct.unpack("<f", v)
            scalars.setdefault(tag, []).append((step, val))
  return scalars


@pytest.fixture
def read_events():
  return read_event_scalars


@pytest.fixture(scope="session")
def teacher_dir(tmp_path_factory):
  """A tiny teacher run (MLP width 8, 128 examples, 2 epochs), trained once per
  session and shared by the student-loop and bad-input tests (read, never
  changed: the bad-input tests assert that)."""
  from kd_ntk.configs import teacher as teacher_config
  from kd_ntk.train import loop as train_loop

  workdir = str(tmp_path_factory.mktemp("tiny_teacher") / "teacher")
  train_loop.run(teacher_config.get_config("tiny,epochs=2"), workdir)
  return workdir
