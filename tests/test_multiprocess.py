"""Real multi-process runs on one machine: 2 local processes x 2 CPU devices joined by
`jax.distributed` (gloo collectives) on a free port, against 1 process x 4 devices.

The workers live in tests/multihost/; kd_ntk.local_processes kills every process
of a run when one fails or the time runs out.
"""

import os
import time

import numpy as np
import pytest

from kd_ntk import data
from kd_ntk import local_processes as harness

WORKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multihost")


@pytest.fixture(scope="module")
def data_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("data")
  results = harness.run_processes([os.path.join(WORKERS, "data_worker.py"), f"--out={out}"],
                                  num_processes=2, devices_per_process=2,
                                  logdir=str(out / "logs"), timeout=90)
  return results, [dict(np.load(out / f"process_{i}.npz")) for i in range(2)]


def test_each_process_prints_its_place(data_run):
  results, _ = data_run
  for i, result in enumerate(results):
    assert f"[process {i}/2] 2 local and 4 global cpu devices" in result.stdout


def test_processes_read_disjoint_shares_placed_where_jax_expects(data_run):
  _, seen = data_run
  np.testing.assert_array_equal(seen[0]["rows"], [0, 1, 2, 3])
  np.testing.assert_array_equal(seen[1]["rows"], [4, 5, 6, 7])
  assert all(bool(s["placed_right"]) for s in seen)
  assert [bool(s["writer"]) for s in seen] == [True, False]
  assert [list(s["layout"]) for s in seen] == [[0, 2, 2, 4], [1, 2, 2, 4]]


def test_global_batches_equal_the_single_process_pipeline(data_run):
  from multihost.data_worker import BATCH, EPOCH, EVAL_BATCH, SEED, toy_data
  _, seen = data_run
  images, labels = toy_data()
  whole = list(data.train_batches(images, labels, BATCH, SEED, EPOCH, 2, True))
  expected = np.stack([x for x, _ in whole])
  expected_sums = [[x.sum(dtype=np.float64), (y * np.arange(BATCH)).sum()] for x, y in whole]
  for s in seen:  # Both processes hold the same global results.
    np.testing.assert_array_equal(s["gathered"], expected)
    np.testing.assert_allclose(s["sums"], expected_sums, rtol=1e-5)
    assert float(s["eval_sum"]) == labels.sum()
    np.testing.assert_array_equal(s["shard_batch"], images[:BATCH])


def test_a_failing_process_takes_the_run_down_quickly(tmp_path):
  # Process 1 exits on a bad flag; process 0 would wait for it at start-up for
  # minutes, so the harness kills it after the grace period.
  script = os.path.join(WORKERS, "data_worker.py")
  start = time.time()
  results = harness.run_processes([script, f"--out={tmp_path}"], 2, 2,
                                  str(tmp_path / "logs"), timeout=60, grace=2,
                                  check=False, extra_args={1: ["--no_such_flag"]})
  assert results[1].returncode == 1 and "no_such_flag" in results[1].stderr
  assert results[0].returncode == -9  # Killed while waiting for process 1.
  assert time.time() - start < 30
