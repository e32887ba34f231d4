"""Start-up arguments of kd_ntk.distributed, without starting a runtime."""

import jax
import pytest
from absl import flags
from absl.testing import flagsaver

from kd_ntk import distributed


def test_no_arguments_means_one_process_on_local_devices():
  assert distributed.check_arguments(None, None, None) is False
  info = distributed.initialize()
  assert (info.index, info.count) == (0, 1)
  assert info.local_devices == info.global_devices == len(jax.devices())
  assert info.line() == (
    f"[process 0/1] {len(jax.devices())} local and "
    f"{len(jax.devices())} global cpu devices"
  )
  assert distributed.is_writer() and not distributed.is_multiprocess()
  distributed.barrier("no-op for one process")


@pytest.mark.parametrize(
  "args,message",
  [
    (("localhost:1234", 2, None), "--process_id missing"),
    ((None, 2, 0), "--coordinator_address missing"),
    (("localhost", 2, 0), "not host:port"),
    (("localhost:99999", 2, 0), "not host:port"),
    (("localhost:1234", 0, 0), "at least 1"),
    (("localhost:1234", 2, 2), r"must lie in 0\.\.1"),
    (("localhost:1234", 2, -1), r"must lie in 0\.\.1"),
  ],
)
def test_bad_arguments_are_refused_with_the_fix(args, message):
  with pytest.raises(ValueError, match=message):
    distributed.check_arguments(*args)


@pytest.mark.parametrize(
  "address", ["localhost:1234", "10.0.0.2:8476", "[::1]:80", "node-7.cluster:1"]
)
def test_good_addresses_are_accepted(address):
  assert distributed.check_arguments(address, 4, 3) is True


def test_flags_exit_with_one_line_before_touching_the_runtime(capsys):
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()
  with flagsaver.flagsaver(
    num_processes=2, process_id=5, coordinator_address="localhost:1234"
  ):
    with pytest.raises(SystemExit) as exit_:
      distributed.initialize_from_flags()
  assert exit_.value.code == 2
  assert capsys.readouterr().err.startswith(
    "error: --process_id=5 must lie in 0..1"
  )
  with flagsaver.flagsaver(num_processes=2):
    with pytest.raises(SystemExit):
      distributed.initialize_from_flags()
  assert (
    "error: --coordinator_address, --process_id missing"
    in capsys.readouterr().err
  )
  assert (
    distributed.initialize_from_flags() is None
  )  # No flags: one process, untouched.


def test_initialising_after_jax_started_names_the_cause():
  jax.devices()  # The backend is up in this test process.
  with pytest.raises(RuntimeError, match="must run before any JAX computation"):
    distributed.initialize("localhost:1", 2, 0, timeout_seconds=1)
