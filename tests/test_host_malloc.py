"""kd_ntk.host_malloc: after `import kd_ntk`, a large block freed by a worker
thread is reused without fresh page faults; the opt-out leaves glibc alone."""

import os
import subprocess
import sys

import pytest

from kd_ntk import host_malloc

ON_GLIBC = host_malloc.on_glibc()

# A worker thread allocates, fills and frees 64 MiB four times; prints the
# minor page faults of each round.
_ROUNDS = """
import resource, threading
import numpy as np
import kd_ntk

def work():
  for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = np.ones(64 * 2**20 // 8)
    del block
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)

thread = threading.Thread(target=work)
thread.start()
thread.join()
"""


def _faults_per_round(**env):
  out = subprocess.run(
    [sys.executable, "-c", _ROUNDS],
    env={**os.environ, **env},
    capture_output=True,
    text=True,
    check=True,
  ).stdout
  return [int(v) for v in out.split()]


@pytest.mark.skipif(not ON_GLIBC, reason="glibc's mallopt only")
def test_freed_blocks_are_reused_without_page_faults():
  ours = _faults_per_round()
  glibc = _faults_per_round(**{host_malloc.OPT_OUT_ENV: "0"})
  assert len(ours) == len(glibc) == 4
  # glibc's defaults map a fresh block each round: faults every time.
  assert min(glibc[1:]) > 0, glibc
  # Kept and reused: round 1 maps the heap, the others touch no new page.
  assert sum(ours[1:]) <= 8, ours


def test_opt_out_changes_nothing():
  assert host_malloc.apply_defaults({host_malloc.OPT_OUT_ENV: "0"}) is False


@pytest.mark.skipif(not ON_GLIBC, reason="glibc's mallopt only")
def test_glibc_accepts_the_settings_and_release_runs():
  assert host_malloc.apply_defaults({}) is True
  assert isinstance(host_malloc.release(), bool)
