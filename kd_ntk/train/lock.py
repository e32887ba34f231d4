"""One run per workdir at a time: an advisory lock file with its owner.

`acquire(workdir)` takes an exclusive `fcntl.flock` on <workdir>/run.lock and
writes the owner into it ({"pid", "host", "started"}); a second process asking
for the same workdir gets `WorkdirBusy` (a ValueError, so the launchers print
one line and exit 2) naming that owner. The kernel drops a flock when its
process dies, so a lock left by a killed run (SIGKILL, OOM, a reboot) is stale
by construction: the next run takes it over and says whose it was.

On file systems without flock (some network mounts: ENOLCK, EOPNOTSUPP) the
owner record alone decides: a record naming a live process of this host, or
any process of another host, means busy; a dead pid on this host is stale.

The lock is per process and re-entrant: acquiring a workdir this process
already holds is a no-op, and `release` frees it. `held(workdir)` is the
context-manager form. `check_free(workdir)` only asks (it takes and drops the
lock at once), for code that must refuse before writing anything.
"""

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator

LOCK_FILE = "run.lock"
_HELD: dict[str, int] = {}  # realpath of a workdir -> fd of its lock file.
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)


class WorkdirBusy(ValueError):
  """Another live process is running in this workdir."""


def _key(workdir: str) -> str:
  return os.path.realpath(workdir)


def lock_path(workdir: str) -> str:
  return os.path.join(workdir, LOCK_FILE)


def _read_owner(fd: int) -> dict | None:
  try:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode()
    owner = json.loads(text) if text.strip() else None
    return owner if isinstance(owner, dict) else None
  except (OSError, ValueError):
    return None


def _alive(pid) -> bool:
  if not isinstance(pid, int) or pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _describe(owner: dict | None) -> str:
  if not owner:
    return "another process"
  started = owner.get("started")
  when = (
    time.strftime(" since %Y-%m-%d %H:%M:%S UTC", time.gmtime(started))
    if isinstance(started, (int, float))
    else ""
  )
  return f"process {owner.get('pid')} on host {owner.get('host')}{when}"


def _busy(workdir: str, owner: dict | None) -> WorkdirBusy:
  return WorkdirBusy(
    f"{workdir} is in use by {_describe(owner)} (lock {lock_path(workdir)}); "
    "wait for that run to finish or stop it, or use another --workdir."
  )


def _write_owner(fd: int) -> None:
  owner = {
    "pid": os.getpid(),
    "host": socket.gethostname(),
    "started": time.time(),
  }
  os.ftruncate(fd, 0)
  os.lseek(fd, 0, os.SEEK_SET)
  os.write(fd, (json.dumps(owner) + "\n").encode())


def _stale_note(workdir: str, owner: dict | None) -> None:
  if owner and owner.get("pid") != os.getpid():
    print(
      f"WARNING: {workdir}: taking over the stale lock of {_describe(owner)} "
      "(that run is gone).",
      file=sys.stderr,
      flush=True,
    )


def _take(workdir: str, fd: int) -> None:
  """Locks `fd` or raises WorkdirBusy (and closes `fd`)."""
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    owner = _read_owner(fd)
    os.close(fd)
    raise _busy(workdir, owner) from None
  except OSError as err:
    if err.errno not in _NO_FLOCK:
      os.close(fd)
      raise
    owner = _read_owner(fd)  # No flock here: the owner record decides.
    if owner and owner.get("pid") != os.getpid():
      same_host = owner.get("host") == socket.gethostname()
      if not same_host or _alive(owner.get("pid")):
        os.close(fd)
        raise _busy(workdir, owner) from None
  _stale_note(workdir, _read_owner(fd))


def acquire(workdir: str) -> None:
  """Holds the lock of `workdir` (an existing folder) for this process.

  Raises:
    WorkdirBusy naming the owner when another live process holds it.
  """
  key = _key(workdir)
  if key in _HELD:
    return
  fd = os.open(lock_path(workdir), os.O_RDWR | os.O_CREAT, 0o644)
  _take(workdir, fd)
  _write_owner(fd)
  _HELD[key] = fd


def release(workdir: str) -> None:
  """Frees the lock if this process holds it (the file stays, empty)."""
  fd = _HELD.pop(_key(workdir), None)
  if fd is None:
    return
  try:
    os.ftruncate(fd, 0)
  except OSError:
    pass
  os.close(fd)  # Closing drops the flock.


def holds(workdir: str) -> bool:
  """Whether this process holds the lock of `workdir`."""
  return _key(workdir) in _HELD


def check_free(workdir: str) -> None:
  """Raises WorkdirBusy if another process holds `workdir`; writes nothing.

  A workdir without a lock file (or that does not exist yet) is free.
  """
  if holds(workdir) or not os.path.exists(lock_path(workdir)):
    return
  try:
    fd = os.open(lock_path(workdir), os.O_RDONLY)
  except OSError:
    return
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    owner = _read_owner(fd)
    os.close(fd)
    raise _busy(workdir, owner) from None
  except OSError as err:
    owner = _read_owner(fd)
    os.close(fd)
    if err.errno in _NO_FLOCK and owner and owner.get("pid") != os.getpid():
      if owner.get("host") != socket.gethostname() or _alive(owner.get("pid")):
        raise _busy(workdir, owner) from None
    return
  os.close(fd)


@contextlib.contextmanager
def held(workdir: str) -> Iterator[None]:
  """`acquire` for the duration of a block (released only if taken here)."""
  taken = not holds(workdir)
  acquire(workdir)
  try:
    yield
  finally:
    if taken:
      release(workdir)
