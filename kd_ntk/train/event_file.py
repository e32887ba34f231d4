"""TensorBoard event files of scalars, written with tensorboardX (no
TensorFlow).

`tensorboard --logdir runs/` reads any file whose name contains "tfevents": a
sequence of TFRecords, each an `Event` protocol buffer. tensorboardX (a
maintained, TensorFlow-free writer; it needs only numpy and protobuf) frames
and encodes them; kd_ntk adds what its runs need on top:

  * one event per metrics row, holding every (tag, simple_value) of the row at
    step = epoch (tensorboardX's `SummaryWriter.add_scalar` writes one event
    per tag);
  * written synchronously and flushed (with fsync) after every row, so a
    killed run keeps what it wrote (`SummaryWriter` queues events for a
    background thread that flushes every `flush_secs`); for that it uses
    tensorboardX's synchronous `event_file_writer.EventsWriter`;
  * the file is created at the first row (a run that writes nothing leaves no
    file), named `events.out.tfevents.<time>.<host>.<pid>.<index>.v2`: the
    process id tells multi-process runs' writers apart.

tensorboardX is imported on first use, so `import kd_ntk.train` does not load
it.
"""

import os
import time
from collections.abc import Mapping

FILE_VERSION = "brain.Event:2"


def crc32c(data: bytes) -> int:
  """CRC-32C of `data` (tensorboardX's; crc32c(b"123456789") = 0xE3069283)."""
  # pylint: disable-next=g-import-not-at-top
  from tensorboardX.crc32c import crc32c as _crc32c

  return _crc32c(data) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
  """The TFRecord checksum: ((c >> 15) | (c << 17)) + 0xa282ead8 mod 2³²."""
  # pylint: disable-next=g-import-not-at-top
  from tensorboardX.record_writer import masked_crc32c as _masked

  return _masked(data)


def scalar_values(row: Mapping[str, object]) -> dict[str, float]:
  """The numbers of a metrics row as TensorBoard scalars (None, strings,
  booleans and the step field "epoch" are left out; NaN and inf are kept)."""
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
    self._writer = None

  def _open(self) -> None:
    # pylint: disable-next=g-import-not-at-top
    from tensorboardX.event_file_writer import EventsWriter

    index = 0
    while any(
      name.endswith(f".{os.getpid()}.{index}.v2")
      for name in os.listdir(self.logdir)
      if name.startswith("events.out.tfevents.")
    ):
      index += 1
    self._writer = EventsWriter(
      os.path.join(self.logdir, "events"), f".{os.getpid()}.{index}.v2"
    )
    self.path = self._writer._file_name  # pylint: disable=protected-access

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    """Writes one event holding every (tag, value) at `step`."""
    if not values:
      return
    # pylint: disable-next=g-import-not-at-top
    from tensorboardX.proto import event_pb2, summary_pb2

    if self._writer is None:
      self._open()
    summary = summary_pb2.Summary(
      value=[
        summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
        for tag, value in values.items()
      ]
    )
    event = event_pb2.Event(
      wall_time=time.time(), step=int(step), summary=summary
    )
    self._writer.write_event(event)
    self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None
