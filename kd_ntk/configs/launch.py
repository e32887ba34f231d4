"""What every absl launcher in experiments/ does around its one library call."""

from typing import Callable, TypeVar

from absl import logging

T = TypeVar("T")

# Errors that mean "the input was wrong": shown as one line, without a traceback.
BAD_INPUT_ERRORS = (ValueError, FileNotFoundError, KeyError)


def run_or_exit(fn: Callable[..., T], *args, **kwargs) -> T:
  """Calls `fn` with orbax's per-file INFO logs silenced; bad input exits with
  `error: <message>` and a diverged run with `diverged: <message>` (status 1)
  instead of a traceback."""
  logging.set_verbosity(logging.WARNING)
  try:
    return fn(*args, **kwargs)
  except BAD_INPUT_ERRORS as err:
    raise SystemExit(f"error: {err}") from None
  except FloatingPointError as err:  # Divergence: there is no result to report.
    raise SystemExit(f"diverged: {err}") from None
