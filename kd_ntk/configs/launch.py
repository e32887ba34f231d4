"""Moved to `kd_ntk.cli`; kept so that older imports keep working."""

from kd_ntk.cli import BAD_INPUT_ERRORS, run_or_exit  # noqa: F401
