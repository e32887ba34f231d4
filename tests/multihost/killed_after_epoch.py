"""Runs a launcher, killing this process with SIGKILL right after epoch N is recorded.

  python killed_after_epoch.py N LAUNCHER.py [launcher flags...]

"Recorded" means the metrics row is written and the epoch's checkpoint is
finished (with its checksums) in every process: each process waits for the
others at a barrier and then kills itself, as a machine failure would, with no
chance to clean up. A process that sees a peer die before its own kill is
aborted by JAX's distributed client instead (SIGABRT), just as abruptly.
"""

import os
import runpy
import signal
import sys

from kd_ntk import distributed
from kd_ntk.train.recorder import Recorder


def main():
  kill_after, launcher = int(sys.argv[1]), sys.argv[2]
  record = Recorder.record

  def record_then_die(self, epoch, state, row):
    record(self, epoch, state, row)
    if epoch == kill_after:
      self._mngr.wait_until_finished()  # pylint: disable=protected-access
      distributed.barrier(f"killed after epoch {epoch}")
      os.kill(os.getpid(), signal.SIGKILL)

  Recorder.record = record_then_die
  sys.argv = [launcher] + sys.argv[3:]
  runpy.run_path(launcher, run_name="__main__")


if __name__ == "__main__":
  main()
