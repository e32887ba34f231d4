"""TensorBoard event files of scalars, written without TensorFlow.

`tensorboard --logdir runs/` reads any file whose name contains "tfevents": a
sequence of TFRecords, each `Event` protocol buffer framed as

  uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

(little-endian; masked_crc(x) = ((c >> 15) | (c << 17)) + 0xa282ead8 mod 2³² with
c = CRC-32C(x)). The first event names the format ("brain.Event:2"); every
later one carries `step` and a `Summary` of (tag, simple_value) pairs. The few
protobuf fields needed are encoded here by hand (field numbers from
tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto),
so the same files come out on every JAX version, with or without TensorFlow.
"""

import os
import socket
import struct
import time
from typing import Dict, Mapping

FILE_VERSION = "brain.Event:2"


def _crc32c_table():
  poly = 0x82F63B78  # CRC-32C (Castagnoli), reflected.
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    table.append(crc)
  return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  """CRC-32C of `data` (crc32c(b"123456789") = 0xE3069283)."""
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
  out = bytearray()
  value &= (
    1 << 64
  ) - 1  # Negative int64s take ten bytes, as protobuf encodes them.
  while True:
    low, value = value & 0x7F, value >> 7
    out.append(low | (0x80 if value else 0))
    if not value:
      return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
  return _varint(number << 3 | wire_type) + payload


def _bytes_field(number: int, payload: bytes) -> bytes:
  return _field(number, 2, _varint(len(payload)) + payload)


def encode_event(
  wall_time: float,
  step: int = 0,
  file_version: str = "",
  scalars: Mapping[str, float] = (),
) -> bytes:
  """The serialised `Event` (wall_time=1, step=2, file_version=3, summary=5);
  `Summary.value`=1 holds `Value`s (tag=1, simple_value=2 as float32)."""
  event = _field(1, 1, struct.pack("<d", wall_time))
  if step:
    event += _field(2, 0, _varint(int(step)))
  if file_version:
    event += _bytes_field(3, file_version.encode())
  if scalars:
    values = b"".join(
      _bytes_field(
        1, _bytes_field(1, tag.encode()) + _field(2, 5, struct.pack("<f", v))
      )
      for tag, v in scalars.items()
    )
    event += _bytes_field(5, values)
  return event


def frame_record(data: bytes) -> bytes:
  """One TFRecord: length, its masked CRC, the data, the data's masked CRC."""
  length = struct.pack("<Q", len(data))
  return (
    length
    + struct.pack("<I", masked_crc32c(length))
    + data
    + struct.pack("<I", masked_crc32c(data))
  )


def scalar_values(row: Mapping[str, object]) -> Dict[str, float]:
  """The numbers of a metrics row as TensorBoard scalars (None, strings, booleans
  and the step field "epoch" are left out; NaN and inf are kept)."""
  return {
    k: float(v)
    for k, v in row.items()
    if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)
  }


class EventFileWriter:
  """Appends scalar events to a new events.out.tfevents.* file in `logdir`.

  The file is created at the first write (so a run that writes nothing leaves
  no file) and flushed after every write: a killed run keeps what it wrote.
  """

  def __init__(self, logdir: str):
    self.logdir = logdir
    self.path = None
    self._fh = None

  def _open(self) -> None:
    stamp = int(time.time())
    base = f"events.out.tfevents.{stamp}.{socket.gethostname()}.{os.getpid()}"
    index = 0
    while os.path.exists(os.path.join(self.logdir, f"{base}.{index}.v2")):
      index += 1
    self.path = os.path.join(self.logdir, f"{base}.{index}.v2")
    self._fh = open(self.path, "ab")
    self._fh.write(
      frame_record(encode_event(time.time(), file_version=FILE_VERSION))
    )

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    """Writes one event holding every (tag, value) at `step`."""
    if not values:
      return
    if self._fh is None:
      self._open()
    self._fh.write(
      frame_record(encode_event(time.time(), step, scalars=values))
    )
    self._fh.flush()

  def close(self) -> None:
    if self._fh is not None:
      self._fh.close()
      self._fh = None
