"""TensorBoard event files through tensorboardX: the framing, the protobuf
fields, and runs writing them."""

import glob
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from kd_ntk.train import event_file


def test_crc32c_matches_the_published_check_value():
  assert (
    event_file.crc32c(b"123456789") == 0xE3069283
  )  # RFC 3720, appendix B.4.
  assert event_file.crc32c(b"") == 0


def test_events_round_trip_through_an_independent_decoder(
  tmp_path, read_events
):
  writer = event_file.EventFileWriter(str(tmp_path))
  assert writer.path is None  # Nothing written yet: no file.
  writer.scalars(3, {"loss": 0.25, "accuracy": float("nan")})
  writer.scalars(4, {"loss": -1.5e-3})
  writer.close()
  files = glob.glob(str(tmp_path / "events.out.tfevents.*"))
  assert files == [writer.path]
  events = read_events(str(tmp_path))
  assert events["loss"] == [(3, 0.25), (4, pytest.approx(-1.5e-3))]
  assert events["accuracy"][0][0] == 3 and np.isnan(events["accuracy"][0][1])


def test_a_corrupted_record_fails_its_checksum(tmp_path, read_events):
  writer = event_file.EventFileWriter(str(tmp_path))
  writer.scalars(1, {"loss": 1.0})
  writer.close()
  raw = bytearray(open(writer.path, "rb").read())
  raw[-6] ^= 0xFF  # A byte of the last event's payload.
  open(writer.path, "wb").write(bytes(raw))
  with pytest.raises(ValueError, match="checksum"):
    read_events(str(tmp_path))


def test_scalar_values_keep_numbers_only():
  row = {
    "epoch": 2,
    "test_loss": 0.5,
    "teacher_epoch": 1,
    "temperature": None,
    "flag": True,
    "name": "x",
  }
  assert event_file.scalar_values(row) == {
    "test_loss": 0.5,
    "teacher_epoch": 1.0,
  }


def test_tensorflow_reads_the_events(tmp_path):
  """The oracle: TensorFlow's own reader parses the file and checks both CRCs."""
  tf = pytest.importorskip(
    "tensorflow", reason="TensorFlow is absent on the core-only leg"
  )
  writer = event_file.EventFileWriter(str(tmp_path))
  writer.scalars(7, {"test_accuracy": 0.875, "train_loss": 1.25})
  writer.close()
  events = list(tf.compat.v1.train.summary_iterator(writer.path))
  assert events[0].file_version == "brain.Event:2"
  assert events[1].step == 7
  assert {v.tag: v.simple_value for v in events[1].summary.value} == {
    "test_accuracy": 0.875,
    "train_loss": 1.25,
  }
  assert struct.unpack("<Q", open(writer.path, "rb").read(8))[0] == len(
    events[0].SerializeToString()
  )


def test_each_row_is_on_disk_before_close_and_named_by_process(
  tmp_path, read_events
):
  """A killed run keeps every row written (no background queue), and the file
  name carries the process id (multi-process runs: process 0 alone writes)."""
  writer = event_file.EventFileWriter(str(tmp_path))
  writer.scalars(1, {"loss": 2.0})
  assert read_events(str(tmp_path)) == {"loss": [(1, 2.0)]}
  writer.scalars(2, {"loss": 1.0})
  assert read_events(str(tmp_path))["loss"][-1] == (2, 1.0)
  name = os.path.basename(writer.path)
  assert name.startswith("events.out.tfevents.")
  assert name.split(".")[-3:] == [str(os.getpid()), "0", "v2"]
  second = event_file.EventFileWriter(str(tmp_path))
  second.scalars(1, {"loss": 3.0})
  assert second.path.endswith(f".{os.getpid()}.1.v2")
  writer.close()
  second.close()


def test_tensorboardx_writes_without_tensorflow(tmp_path):
  code = (
    "import sys\n"
    "from kd_ntk.train import event_file\n"
    "assert 'tensorboardX' not in sys.modules\n"
    f"w = event_file.EventFileWriter({str(tmp_path)!r})\n"
    "w.scalars(1, {'loss': 0.5}); w.close()\n"
    "print(type(w).__name__, 'tensorboardX' in sys.modules,"
    " sorted(m for m in ('tensorflow', 'torch') if m in sys.modules))\n"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=False
  )
  assert out.returncode == 0, out.stderr
  assert out.stdout.split() == ["EventFileWriter", "True", "[]"]
