"""Runs one command as N local JAX processes joined by `jax.distributed`.

They meet on a free local port: each process gets
`--coordinator_address=localhost:PORT --num_processes=N --process_id=i`
appended, D CPU devices (XLA_FLAGS) and its own stdout / stderr files. If one
process fails or the time runs out, every process is killed (its whole process
group) and the error shows the tail of each one's output.
Used by the multi-process tests and experiments/benchmarks/bench_scale.py; also
a command:

  python -m kd_ntk.local_processes --num_processes=2 --devices=2 \
      --logdir=/tmp/logs -- \
      experiments/train_teacher.py --config=kd_ntk/configs/teacher.py:quick \
      --workdir=runs/teacher_2proc
"""

import argparse
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

# The folder holding this kd_ntk package: workers import the same code.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class Finished:
  pid: int
  returncode: int
  stdout: str
  stderr: str


def free_port() -> int:
  """A TCP port nobody listens on now (the OS picks it)."""
  with socket.socket() as sock:
    sock.bind(("localhost", 0))
    return sock.getsockname()[1]


def process_env(
  devices: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
  """A worker's environment: `devices` fake CPU devices, the repo importable."""
  env = dict(os.environ)
  flags = re.sub(
    r"--xla_force_host_platform_device_count=\d+", "", env.get("XLA_FLAGS", "")
  )
  env["XLA_FLAGS"] = (
    f"{flags} --xla_force_host_platform_device_count={devices}".strip()
  )
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = os.pathsep.join(
    filter(None, [REPO, env.get("PYTHONPATH")])
  )
  env.update(extra or {})
  return env


def tail(text: str, lines: int = 25) -> str:
  return "\n".join(text.strip().splitlines()[-lines:])


def kill_all(procs: Sequence[subprocess.Popen]) -> None:
  for proc in procs:
    if proc.poll() is None:
      try:
        # The process and anything it started.
        os.killpg(proc.pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
  for proc in procs:
    proc.wait()


def run_processes(
  args: Sequence[str],
  *,
  num_processes: int,
  devices_per_process: int,
  logdir: str,
  timeout: float = 120.0,
  grace: float = 10.0,
  env: dict[str, str] | None = None,
  check: bool = True,
  extra_args: dict[int, list[str]] | None = None,
) -> list[Finished]:
  """Runs `python *args` as `num_processes` processes of one distributed run.

  Args:
    args: script path (or -m module) and its arguments.
    num_processes, devices_per_process: the layout.
    logdir: where process_<i>.out / .err go.
    timeout: seconds for the whole run.
    grace: seconds the others get to finish once one process has failed.
    env: extra environment variables.
    check: raise AssertionError (with every process's output) unless all exit 0.
    extra_args: more arguments for some processes, by process index.

  Returns:
    One `Finished` per process, in process order.
  """
  os.makedirs(logdir, exist_ok=True)
  port = free_port()
  procs, files = [], []
  try:
    for i in range(num_processes):
      out = open(os.path.join(logdir, f"process_{i}.out"), "w+")
      err = open(os.path.join(logdir, f"process_{i}.err"), "w+")
      files.append((out, err))
      command = [
        sys.executable,
        *args,
        f"--coordinator_address=localhost:{port}",
        f"--num_processes={num_processes}",
        f"--process_id={i}",
        *(extra_args or {}).get(i, []),
      ]
      procs.append(
        subprocess.Popen(
          command,
          stdout=out,
          stderr=err,
          env=process_env(devices_per_process, env),
          start_new_session=True,
        )
      )
    deadline, failed_at = time.time() + timeout, None
    while any(p.poll() is None for p in procs) and time.time() < deadline:
      if failed_at is None and any(p.poll() not in (None, 0) for p in procs):
        failed_at = time.time()
      if failed_at is not None and time.time() > failed_at + grace:
        break
      time.sleep(0.1)
    timed_out = any(p.poll() is None for p in procs)
  finally:
    kill_all(procs)
  results = []
  for proc, (out, err) in zip(procs, files):
    out.seek(0)
    err.seek(0)
    results.append(Finished(proc.pid, proc.returncode, out.read(), err.read()))
    out.close()
    err.close()
  if check and (timed_out or any(r.returncode for r in results)):
    report = "\n".join(
      f"--- process {i}: exit {r.returncode}\n{tail(r.stdout)}\n"
      f"{tail(r.stderr)}"
      for i, r in enumerate(results)
    )
    raise AssertionError(
      ("timed out after %.0f s\n" % timeout if timed_out else "") + report
    )
  return results


def run_single(
  args: Sequence[str],
  *,
  devices: int,
  logdir: str,
  timeout: float = 120.0,
  env: dict[str, str] | None = None,
) -> Finished:
  """Runs `python *args` as one ordinary process with `devices` CPU devices."""
  os.makedirs(logdir, exist_ok=True)
  try:
    done = subprocess.run(
      [sys.executable, *args],
      capture_output=True,
      text=True,
      timeout=timeout,
      env=process_env(devices, env),
    )
  except subprocess.TimeoutExpired as err:
    raise AssertionError(f"timed out after {timeout:.0f} s: {args}") from err
  if done.returncode:
    raise AssertionError(
      f"exit {done.returncode}\n{tail(done.stdout)}\n{tail(done.stderr)}"
    )
  return Finished(0, done.returncode, done.stdout, done.stderr)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--num_processes", type=int, default=2)
  parser.add_argument(
    "--devices", type=int, default=1, help="CPU devices per process."
  )
  parser.add_argument(
    "--logdir", required=True, help="process_<i>.out/.err go here."
  )
  parser.add_argument(
    "--timeout", type=float, default=24 * 3600.0, help="Seconds."
  )
  parser.add_argument(
    "command", nargs="+", help="Script and its arguments (after --)."
  )
  args = parser.parse_args(argv)
  try:
    results = run_processes(
      args.command,
      num_processes=args.num_processes,
      devices_per_process=args.devices,
      logdir=args.logdir,
      timeout=args.timeout,
    )
  except AssertionError as err:
    print(f"error: {err}", file=sys.stderr)
    return 1
  print(tail(results[0].stdout), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
