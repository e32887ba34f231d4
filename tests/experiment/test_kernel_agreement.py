"""Agreement between kernels on hand-made complexity rows."""

import json

import numpy as np
import pytest
from scipy import stats

from kd_ntk.experiment import kernel_agreement


def _rows(kernel, teacher_asc, labels=2.0, random=3.0, subsets=2):
  """Rows of one kernel: teacher_asc[(t, tau)] plus a subset offset."""
  rows = []
  for s in range(subsets):
    base = dict(kernel=kernel, subset=s, student_epoch=0, kernel_note="")
    rows.append(
      dict(
        base,
        target="labels",
        teacher_epoch=None,
        temperature=None,
        draw=0,
        asc=labels + 0.01 * s,
      )
    )
    rows.append(
      dict(
        base,
        target="random_labels",
        teacher_epoch=None,
        temperature=None,
        draw=0,
        asc=random + 0.01 * s,
      )
    )
    for (t, tau), asc in teacher_asc.items():
      rows.append(
        dict(
          base,
          target="teacher",
          teacher_epoch=t,
          temperature=tau,
          draw=0,
          asc=asc + 0.001 * s,
        )
      )
  return rows


def test_spearman_matches_scipy_with_ties():
  rng = np.random.default_rng(0)
  for _ in range(20):
    x, y = rng.integers(0, 5, 12), rng.normal(size=12)
    assert kernel_agreement.spearman(x, y) == pytest.approx(
      stats.spearmanr(x, y)[0]
    )
  assert np.isnan(kernel_agreement.spearman([1, 1, 1], [1, 2, 3]))


def test_agreement_and_claims_per_kernel(tmp_path):
  # Kernel "a": paper-like (ASC rises with t, falls with τ). Kernel "b": the same
  # order over (t, τ) except that checkpoint order is reversed at τ=4, and C2 fails
  # because ASC falls with t at τ=1.
  a = {(t, tau): (1.0 + 0.1 * t) / tau for t in range(4) for tau in (1.0, 4.0)}
  b = {(t, tau): (1.5 - 0.1 * t) / tau for t in range(4) for tau in (1.0, 4.0)}
  rows = _rows("a", a) + _rows("b", b)
  report = kernel_agreement.write_agreement(rows, str(tmp_path))
  (pair,) = report["rank_agreement"]
  keys = sorted(a)
  assert pair["kernels"] == ["a", "b"] and pair["points"] == 8
  assert pair["spearman_of_subset_means"] == pytest.approx(
    stats.spearmanr([a[k] for k in keys], [b[k] for k in keys])[0]
  )
  assert pair["spearman_within_tau"] == {
    "1": pytest.approx(-1.0),
    "4": pytest.approx(-1.0),
  }
  claims = report["claims_by_kernel"]
  assert claims["a"]["C1"]["outcome"] == "supported"
  assert claims["a"]["C2"]["outcome"] == "supported"
  assert claims["a"]["C4"]["outcome"] == "supported"
  assert claims["b"]["C2"]["outcome"] == "contradicted"
  assert claims["b"]["C2"]["estimate"] < 0
  saved = json.loads((tmp_path / kernel_agreement.AGREEMENT_JSON).read_text())
  assert saved["claims_by_kernel"]["b"]["C2"]["outcome"] == "contradicted"
  md = (tmp_path / kernel_agreement.AGREEMENT_MD).read_text()
  assert "| a | b | 8 |" in md and "| b | supported | contradicted |" in md
  path = kernel_agreement.plot_by_kernel(rows, str(tmp_path / "f.png"))
  assert (tmp_path / "f.png").stat().st_size > 0 and path.endswith("f.png")
