"""Test set-up: four fake CPU devices, and skips allowed only on the core-only leg.

Sharded code is exercised with several devices on one CPU through
`--xla_force_host_platform_device_count=4` (it must be set before JAX starts).

Tests that need TensorFlow or neural-tangents call
`pytest.importorskip(name, reason="... core-only leg ...")`. Those skips are
legitimate only on CI's core-only leg (newest JAX, neither package installed),
which sets KD_NTK_CORE_ONLY=1; anywhere else such a skip (or any import skip)
becomes a failure, so the pinned leg cannot pass by skipping.
"""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=4").strip()

import glob  # noqa: E402
import struct  # noqa: E402

import pytest  # noqa: E402

CORE_ONLY = os.environ.get("KD_NTK_CORE_ONLY") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  outcome = yield
  report = outcome.get_result()
  if report.skipped and not CORE_ONLY and call.excinfo is not None:
    message = str(call.excinfo.value)
    if any(s in message for s in ("core-only", "could not import", "No module named")):
      report.outcome = "failed"
      report.longrepr = (f"{message}\nOptional packages may be missing only on the "
                         "core-only leg (KD_NTK_CORE_ONLY=1); install requirements.txt.")


def _fields(buf: bytes):
  """(field number, wire type, value) of a serialised protobuf message."""
  pos = 0
  while pos < len(buf):
    key, pos = _varint(buf, pos)
    number, wire = key >> 3, key & 7
    if wire == 0:
      value, pos = _varint(buf, pos)
    elif wire == 1:
      value, pos = buf[pos:pos + 8], pos + 8
    elif wire == 5:
      value, pos = buf[pos:pos + 4], pos + 4
    elif wire == 2:
      size, pos = _varint(buf, pos)
      value, pos = buf[pos:pos + size], pos + size
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
      header = raw[pos:pos + 8]
      (length,) = struct.unpack("<Q", header)
      (header_crc,) = struct.unpack("<I", raw[pos + 8:pos + 12])
      data = raw[pos + 12:pos + 12 + length]
      (data_crc,) = struct.unpack("<I", raw[pos + 12 + length:pos + 16 + length])
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
