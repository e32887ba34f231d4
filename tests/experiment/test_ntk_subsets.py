"""NTK subsets are disjoint across calls as well as within one (the
reproduction runs subset s as its own run with seed s), or refused."""

import numpy as np
import pytest

from kd_ntk.experiment import complexity_inputs
from kd_ntk.data import class_balanced_subset


def _labels(per_class=600, classes=10):
  # Shuffled so that the subsets cannot be disjoint by index order alone.
  rng = np.random.default_rng(1)
  return rng.permutation(np.repeat(np.arange(classes), per_class))


def test_one_run_per_subset_draws_the_same_disjoint_subsets_as_one_call():
  labels = _labels()
  together = complexity_inputs.ntk_subsets(
    labels, 1024, num_subsets=3, seed=0, num_classes=10
  )
  apart = [
    complexity_inputs.ntk_subsets(
      labels, 1024, num_subsets=1, seed=s, num_classes=10
    )[0]
    for s in range(3)
  ]
  for a, b in zip(together, apart):
    np.testing.assert_array_equal(a, b)
  for i in range(3):
    for j in range(i + 1, 3):
      assert not set(apart[i]) & set(apart[j]), (i, j)
  for s in apart:
    counts = np.bincount(labels[s], minlength=10)
    assert counts.max() - counts.min() <= 1  # 1024 = 10·102 + 4.


def test_the_old_independent_draws_overlapped_on_the_reproduction_path():
  # What issue 24 measured: three independent class-balanced draws of 1,024 of
  # 6,000 share about 1024²/6000 ≈ 175 examples pairwise.
  labels = _labels()
  old = [class_balanced_subset(labels, 1024, s, 10) for s in range(3)]
  shared = len(set(old[0]) & set(old[1]))
  assert 120 < shared < 240
  # Member 0 of the chain is the old single subset.
  np.testing.assert_array_equal(
    complexity_inputs.ntk_subsets(
      labels, 1024, num_subsets=1, seed=0, num_classes=10
    )[0],
    old[0],
  )


def test_too_small_a_pool_is_refused_before_any_work():
  labels = _labels(per_class=100)  # 1,000 examples.
  with pytest.raises(ValueError, match="3 disjoint NTK subsets of n=400"):
    complexity_inputs.ntk_subsets(
      labels, 400, num_subsets=1, seed=2, num_classes=10
    )  # Member 2 of 3.
  with pytest.raises(ValueError, match="seed >= 0"):
    complexity_inputs.ntk_subsets(
      labels, 10, num_subsets=1, seed=-1, num_classes=10
    )
  assert (
    len(
      complexity_inputs.ntk_subsets(
        labels, 250, num_subsets=4, seed=0, num_classes=10
      )
    )
    == 4
  )
