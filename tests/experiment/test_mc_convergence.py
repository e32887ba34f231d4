"""The Monte-Carlo convergence table (no neural-tangents needed)."""

import os

import numpy as np
import pytest

from kd_ntk import complexity
from kd_ntk.experiment import mc_convergence


def test_errors_shrink_with_width_and_samples_and_files_are_written(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((16, 4, 4, 1)).astype(np.float32)
  y = complexity.one_hot(rng.integers(0, 3, 16), 3)
  rows = mc_convergence.convergence_rows(
    x, y, widths=[8, 256], samples=[1, 8], repeats=2
  )
  assert len(rows) == 2 * 2 * 2
  err = {
    (w, m): np.mean(
      [r["kernel_error"] for r in rows if (r["width"], r["samples"]) == (w, m)]
    )
    for w in (8, 256)
    for m in (1, 8)
  }
  # Fluctuations shrink like 1/sqrt(width·samples): 256 x 8 is 256x more averaging.
  assert err[(256, 8)] < 0.25 * err[(8, 1)], err
  assert all(r["asc_infinite"] == rows[0]["asc_infinite"] for r in rows)
  table = mc_convergence.write(rows, str(tmp_path))
  assert "| 256 |" in table and "m=8" in table
  for name in (
    mc_convergence.CSV_FILE,
    mc_convergence.MD_FILE,
    mc_convergence.FIGURE,
  ):
    assert os.path.exists(tmp_path / name)


def test_bad_grid_is_refused():
  x = np.zeros((4, 2, 2, 1), np.float32)
  y = np.eye(2)[[0, 1, 0, 1]]
  with pytest.raises(ValueError, match="positive integers"):
    mc_convergence.convergence_rows(x, y, widths=[], samples=[1])
