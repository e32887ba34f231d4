"""Multi-process start-up on JAX's own multi-controller runtime, and process-0
writes.

Every process runs the same program (SPMD). `jax.distributed.initialize` joins
them into one runtime whose `jax.devices()` are the devices of all processes; a
`Mesh(("data",))` over them and `jax.jit` do the rest (collectives over gloo on
CPU, NCCL on GPU, ICI/DCN on TPU). Nothing here reimplements a collective.

Launchers call `initialize_from_flags()` first thing in `main`; the flags:

  --coordinator_address=host:port --num_processes=P --process_id=i
      explicit start-up (local processes, plain multi-host GPU);
  --distributed
      let JAX detect the cluster itself (TPU VM / pod slice, SLURM, Open MPI).

Without them a launcher runs as one process on its local devices, as before.
"""

import dataclasses
import re
import sys

import jax
from absl import flags

_DISTRIBUTED = flags.DEFINE_bool(
  "distributed",
  False,
  "Join a multi-process run whose layout JAX detects (TPU VM / pod slice, SLURM, "
  "Open MPI); every process runs the same command.",
)
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address",
  None,
  "host:port of process 0 (every process passes the same); with --num_processes "
  "and --process_id.",
)
_NUM_PROCESSES = flags.DEFINE_integer(
  "num_processes", None, "Number of processes in the run."
)
_PROCESS_ID = flags.DEFINE_integer(
  "process_id", None, "This process's index, 0 .. num_processes-1."
)

_ADDRESS = re.compile(r"^\[?[A-Za-z0-9_.:\-]+\]?:(\d{1,5})$")
_started = False


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
  """Where this process sits in the run."""

  index: int  # jax.process_index()
  count: int  # jax.process_count()
  local_devices: int  # jax.local_device_count()
  global_devices: int  # jax.device_count()
  platform: str  # cpu | gpu | tpu

  def line(self) -> str:
    return (
      f"[process {self.index}/{self.count}] {self.local_devices} local and "
      f"{self.global_devices} global {self.platform} devices"
    )


def check_arguments(
  coordinator_address: str | None,
  num_processes: int | None,
  process_id: int | None,
) -> bool:
  """Validates explicit start-up arguments; True when they ask for a
  multi-process run.

  Raises:
    ValueError naming the missing or wrong argument and how to fix it.
  """
  given = {
    "coordinator_address": coordinator_address,
    "num_processes": num_processes,
    "process_id": process_id,
  }
  if all(v is None for v in given.values()):
    return False
  missing = sorted(k for k, v in given.items() if v is None)
  if missing:
    raise ValueError(
      f"--{', --'.join(missing)} missing: an explicit multi-process start "
      "needs --coordinator_address, --num_processes and --process_id "
      "(or --distributed alone on a TPU VM or under SLURM)."
    )
  match = _ADDRESS.match(coordinator_address)
  if not match or not 0 < int(match.group(1)) < 65536:
    raise ValueError(
      f"--coordinator_address={coordinator_address!r} is not host:port "
      "(e.g. 10.0.0.2:1234 or localhost:1234)."
    )
  if num_processes < 1:
    raise ValueError(f"--num_processes={num_processes} must be at least 1.")
  if not 0 <= process_id < num_processes:
    raise ValueError(
      f"--process_id={process_id} must lie in 0..{num_processes - 1} "
      f"(--num_processes={num_processes})."
    )
  return True


def use_gloo_on_cpu() -> None:
  """CPU collectives across processes over gloo (the default from some JAX
  version on; must be set before the CPU backend starts). Harmless on GPU and
  TPU."""
  try:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  except (
    AttributeError,
    ValueError,
  ):  # A JAX without the option: its own default.
    pass


def initialize(
  coordinator_address: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
  *,
  auto_detect: bool = False,
  timeout_seconds: int = 300,
) -> ProcessInfo:
  """Joins the multi-process runtime when asked; returns this process's place in
  it.

  With no arguments (and `auto_detect=False`) nothing is initialised: one
  process on its local devices. Must run before anything touches a JAX device.

  Args:
    coordinator_address, num_processes, process_id: explicit start-up; all three
      or none.
    auto_detect: let JAX find the cluster (TPU, SLURM, Open MPI) when no
      explicit arguments are given.
    timeout_seconds: how long to wait for every process to join.

  Raises:
    ValueError for inconsistent arguments; RuntimeError when JAX already started
    its backend (initialise first) or the runtime cannot be joined.
  """
  global _started
  explicit = check_arguments(coordinator_address, num_processes, process_id)
  if (explicit or auto_detect) and not _started:
    use_gloo_on_cpu()
    try:
      jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        initialization_timeout=timeout_seconds,
      )
    except RuntimeError as err:
      raise RuntimeError(
        f"jax.distributed.initialize failed: {err} (it must run before "
        "any JAX computation; every process needs the same "
        "--coordinator_address and --num_processes)."
      ) from None
    except ValueError as err:  # Auto-detection found no cluster.
      raise ValueError(
        f"--distributed: {err}; outside a TPU VM / SLURM / MPI job pass "
        "--coordinator_address, --num_processes and --process_id."
      ) from None
    _started = True
    warm_up_collectives()
  return process_info()


def warm_up_collectives() -> None:
  """Runs one collective over each device group the library uses, right after
  joining, while the processes are in step.

  The first collective over a group of devices sets up its communicator, and
  on CPU gloo gives the processes only 30 s to all arrive (measured here: a
  process 45 s late fails with "Gloo context initialization failed:
  DEADLINE_EXCEEDED"; once set up, collectives wait as long as needed). Without
  this, the first training step or `device_put`, which one process may reach
  far later than another (compilation on a loaded machine), could hit it.
  Groups: all devices of the data mesh (training steps) and, per local device,
  its peers in the other processes (`multihost_utils`: assert_equal,
  process_allgather, barriers). Raises if not every device answers.
  """
  import jax.numpy as jnp
  import numpy as np
  from jax.sharding import NamedSharding, PartitionSpec

  # One mesh layout for the whole library.
  from kd_ntk.data.pipeline import data_mesh

  barrier("kd_ntk.distributed.warm_up")  # The cross-process groups.
  mesh = data_mesh()
  ones = jax.make_array_from_process_local_data(
    NamedSharding(mesh, PartitionSpec("data")),
    np.ones(jax.local_device_count(), np.int32),
    (jax.device_count(),),
  )
  answered = int(jax.jit(jnp.sum)(ones))  # An all-reduce over every device.
  if answered != jax.device_count():
    raise RuntimeError(
      f"Only {answered} of {jax.device_count()} devices answered the "
      "first all-reduce."
    )


def process_info() -> ProcessInfo:
  return ProcessInfo(
    jax.process_index(),
    jax.process_count(),
    jax.local_device_count(),
    jax.device_count(),
    jax.default_backend(),
  )


def initialize_from_flags() -> ProcessInfo | None:
  """The launchers' start-up: reads the four flags and, when they ask for a
  multi-process run, joins it and prints this process's line (returning its
  ProcessInfo). Without them it touches nothing (None). Bad flags exit with
  status 2 and one line `error: ...` (the kd_ntk.cli convention)."""
  try:
    if not (
      _DISTRIBUTED.value
      or check_arguments(
        _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value
      )
    ):
      return None
    info = initialize(
      _COORDINATOR.value,
      _NUM_PROCESSES.value,
      _PROCESS_ID.value,
      auto_detect=_DISTRIBUTED.value,
    )
  except (ValueError, RuntimeError) as err:
    print(f"error: {' '.join(str(err).split())}", file=sys.stderr, flush=True)
    raise SystemExit(2) from None
  print(info.line(), flush=True)
  return info


def is_multiprocess() -> bool:
  return jax.process_count() > 1


def is_writer() -> bool:
  """True in the one process (index 0) that writes files meant to exist once:
  metrics.jsonl, config.json, reports, plots. Checkpoints are written by all."""
  return jax.process_index() == 0


def broadcast_from_writer(value):
  """Process 0's `value` (a number or array) in every process (no-op for 1)."""
  if not is_multiprocess():
    return value
  # Only multi-process runs need it.
  from jax.experimental import multihost_utils

  return multihost_utils.broadcast_one_to_all(value)


def sum_over_processes(array):
  """Σ over processes of each one's numpy `array` (same shape and dtype in all),
  returned in every process.

  One all-reduce over the first device of each process, a group already set
  up by `warm_up_collectives` (so a process may arrive late). Used to join
  disjoint parts computed by different processes: adding their zeros is exact.
  """
  import numpy as np

  if not is_multiprocess():
    return array
  from jax.sharding import Mesh, NamedSharding, PartitionSpec

  firsts = {}
  for device in jax.devices():
    firsts.setdefault(device.process_index, device)
  mesh = Mesh(np.asarray([firsts[p] for p in sorted(firsts)]), ("processes",))
  array = np.asarray(array)
  stacked = jax.make_array_from_process_local_data(
    NamedSharding(mesh, PartitionSpec("processes")),
    array[None],
    (len(firsts),) + array.shape,
  )
  total = jax.jit(
    lambda a: a.sum(0), out_shardings=NamedSharding(mesh, PartitionSpec())
  )(stacked)
  return np.asarray(total.addressable_data(0))


def barrier(name: str) -> None:
  """Waits until every process reached the barrier `name` (no-op for one)."""
  if is_multiprocess():
    # Only multi-process runs need it.
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)
