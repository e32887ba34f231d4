"""What every absl launcher in experiments/ does around its one library call.

  from kd_ntk import cli
  def main(argv): rows = cli.run_or_exit(loop.run, config, workdir)
  if __name__ == "__main__": cli.launch(main)

Every launcher ends in one of these ways, each with one line on stderr:

  exit 0    done
  exit 1    an unexpected crash (Python's own status, with its traceback)
  exit 3    `diverged: <message>`: no result (non-finite loss or weights)
  exit 2    `error: <what is wrong and what to do>`: bad input (a config file,
            key or value, a workdir, a damaged or busy run, damaged data) or a
            full disk ("no space left on device ... free space and rerun")
  exit 130  `interrupted: ...` (Ctrl-C): rerunning the command resumes

`--debug` also prints the traceback, with the same exit status. Every
checkpoint manager is closed before exiting, so orbax's background save thread
cannot hold the process open.
"""

import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

from absl import app, flags, logging

from kd_ntk.train import checkpoint

T = TypeVar("T")
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3  # Not 1, which a crash's traceback exits with.
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C.
CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")

# Errors that mean "the input was wrong": shown as one line, without a
# traceback.
BAD_INPUT_ERRORS = (ValueError, KeyError, OSError)

_DEBUG = flags.DEFINE_bool(
  "debug", False, "Show full tracebacks instead of one-line errors."
)


def debugging(argv: Sequence[str] | None = None) -> bool:
  """Whether --debug was given (readable before the flags are parsed)."""
  if flags.FLAGS.is_parsed():
    return _DEBUG.value
  return any(
    a in ("--debug", "--debug=true", "--debug=True")
    for a in (argv if argv is not None else sys.argv)
  )


def one_line(err: BaseException) -> str:
  """The message of an exception on one line (KeyError's quotes removed)."""
  text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
  text = str(text).strip() or type(err).__name__
  return " ".join(text.split())


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
  """Closes open checkpoint managers, prints `message` and exits with `code`."""
  checkpoint.close_all()
  print(message, file=sys.stderr, flush=True)
  raise SystemExit(code)


class _OneLineErrors:
  """An absl-log filter: orbax's background-thread errors are dropped (the same
  failure reaches the caller as an exception, printed as one line), other
  records lose their traceback and keep their first line."""

  def filter(self, record) -> bool:
    if record.levelno >= logging.ERROR and "/orbax/" in (record.pathname or ""):
      return False
    if record.exc_info or record.exc_text:
      record.exc_info, record.exc_text = None, None
      record.msg, record.args = record.getMessage().splitlines()[0], ()
    return True


@contextlib.contextmanager
def quiet_absl_logs():
  """For the duration of one call only: orbax's per-file INFO logs silenced,
  and (unless --debug) log records shortened to one line (`_OneLineErrors`)."""
  previous = logging.get_verbosity()
  logging.set_verbosity(logging.WARNING)
  handler = logging.get_absl_handler()
  one_line_filter = None if debugging() else _OneLineErrors()
  if one_line_filter is not None:
    handler.addFilter(one_line_filter)
  try:
    yield
  finally:
    logging.set_verbosity(previous)
    if one_line_filter is not None:
      handler.removeFilter(one_line_filter)


def _no_space(err: BaseException) -> str | None:
  """The one-line message of a full disk anywhere in `err`'s chain, or None."""
  seen = err
  while seen is not None:
    if getattr(seen, "errno", None) == errno.ENOSPC or "No space left" in str(
      seen
    ):
      where = getattr(seen, "filename", None)
      return (
        "no space left on device"
        + (f" (writing {where})" if where else "")
        + ": free space and rerun the same command; it resumes from the last "
        "complete checkpoint."
      )
    seen = seen.__cause__ or seen.__context__
  return None


def _exit_for(err: BaseException) -> tuple[str, int]:
  """(stderr line, exit status) of an exception that ends a launcher."""
  if isinstance(err, KeyboardInterrupt):
    return (
      "interrupted: stopped by Ctrl-C; rerun the same command to resume from "
      "the last complete checkpoint.",
      EXIT_INTERRUPTED,
    )
  full = _no_space(err)
  if full:
    return f"error: {full}", EXIT_BAD_INPUT
  if isinstance(err, FloatingPointError):  # Divergence: no result to report.
    return f"diverged: {one_line(err)}", EXIT_DIVERGED
  return f"error: {one_line(err)}", EXIT_BAD_INPUT


def _handled(err: BaseException) -> bool:
  return isinstance(
    err, (*BAD_INPUT_ERRORS, FloatingPointError, KeyboardInterrupt)
  ) or bool(_no_space(err))


def run_or_exit(fn: Callable[..., T], *args, **kwargs) -> T:
  """Calls `fn`; bad input exits 2 with `error: <message>`, divergence exits 1
  with `diverged: <message>`, Ctrl-C exits 130 (see the module docstring).
  With --debug the traceback is printed first; the exit status is the same."""
  with quiet_absl_logs():
    try:
      return fn(*args, **kwargs)
    except BaseException as err:  # pylint: disable=broad-except
      if not _handled(err):
        raise
      if debugging():
        traceback.print_exc()
      line, code = _exit_for(err)
      fail(line, code)


def _config_file_problem(argv: Sequence[str]) -> str | None:
  """A one-line message when --config names a file that does not exist."""
  for i, arg in enumerate(argv):
    value = None
    if arg.startswith("--config="):
      value = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      value = argv[i + 1]
    if value is not None:
      path = value.split(":", 1)[0]
      if path and not os.path.isfile(path):
        known = ", ".join(
          sorted(
            n
            for n in os.listdir(CONFIG_DIR)
            if _defines_get_config(os.path.join(CONFIG_DIR, n))
          )
        )
        return (
          f"config file {path} does not exist (from --config={value}); the "
          f"configs are in {os.path.relpath(CONFIG_DIR)}: {known}."
        )
  return None


def _defines_get_config(path: str) -> bool:
  if not path.endswith(".py"):
    return False
  with open(path) as fh:
    return "def get_config" in fh.read()


def parse_flags(argv: Sequence[str]):
  """absl flag parsing: config-file and override errors exit 2, in one line."""
  missing = _config_file_problem(argv)
  if missing:
    fail(f"error: {missing}", EXIT_BAD_INPUT)
  try:
    return flags.FLAGS(argv)
  except Exception as err:  # pylint: disable=broad-except
    # Any config-file error.
    if debugging(argv):
      traceback.print_exc()
    cause = _root_cause(err)
    message = one_line(cause)
    if cause is not err:  # Raised by the config file's get_config.
      message = f"--config: {message}"
    fail(f"error: {message}", EXIT_BAD_INPUT)


def _root_cause(err: BaseException) -> BaseException:
  """The first exception of a chain (config_flags re-raises get_config's errors
  with a formatted traceback as their message)."""
  while True:
    earlier = err.__cause__ or (
      None if err.__suppress_context__ else err.__context__
    )
    if earlier is None:
      return err
    err = earlier


def launch(main: Callable) -> None:
  """`app.run(main)` with one-line errors for bad flags and config arguments,
  and Ctrl-C anywhere in `main` (not only inside `run_or_exit`) as one line."""

  def guarded(argv):
    try:
      return main(argv)
    except KeyboardInterrupt:
      if debugging():
        traceback.print_exc()
      fail(*_exit_for(KeyboardInterrupt()))

  app.run(guarded, flags_parser=parse_flags)
