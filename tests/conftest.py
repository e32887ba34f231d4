"""Test set-up: four fake CPU devices, and skips allowed only on the core-only leg.

Sharded code is exercised with several devices on one CPU through
`--xla_force_host_platform_device_count=4` (it must be set before JAX starts).

Tests that need TensorFlow or neural-tangents call
`pytest.importorskip(name, reason="... core-only leg ...")`. Those skips are
legitimate only on CI's core-only leg (newest JAX, neither package installed),
which sets KD_NTK_CORE_ONLY=1; anywhere else such a skip (or any import skip)
becomes a failure, so the pinned leg cannot pass by skipping.
"""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=4").strip()

import pytest  # noqa: E402

CORE_ONLY = os.environ.get("KD_NTK_CORE_ONLY") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  outcome = yield
  report = outcome.get_result()
  if report.skipped and not CORE_ONLY and call.excinfo is not None:
    message = str(call.excinfo.value)
    if any(s in message for s in ("core-only", "could not import", "No module named")):
      report.outcome = "failed"
      report.longrepr = (f"{message}\nOptional packages may be missing only on the "
                         "core-only leg (KD_NTK_CORE_ONLY=1); install requirements.txt.")
