"""Alternating timing of several steppers and round-paired ratios between them.

`alternate` times each contender for a few steps per round, flipping the order
every round, so that round r's rates were measured side by side; a ratio of
two contenders is then the geometric mean of their per-round ratios with a
95% t-interval (`paired_ratio`), which cancels the machine's drift between
rounds.
"""

import math
import statistics
import time

from kd_ntk.science import stats


def alternate(runners, *, batch_size, num_steps, rounds, settle_s=0.0):
  """Images/second of each runner per round, timed alternately (the order
  flips each round, so round r's rates are neighbours in time), each segment
  after `settle_s` idle seconds."""
  for run in runners.values():
    run(3)  # Compile and warm up.
  rates = {k: [] for k in runners}
  names = list(runners)
  for r in range(rounds):
    for name in names if r % 2 == 0 else names[::-1]:
      time.sleep(settle_s)
      start = time.perf_counter()
      runners[name](num_steps)
      rates[name].append(batch_size * num_steps / (time.perf_counter() - start))
  return rates


def medians(per_round):
  """{runner: median images/second} of `alternate`'s per-round rates."""
  return {k: statistics.median(v) for k, v in per_round.items()}


def paired_ratio(a, b):
  """Round-paired ratio a/b: the geometric mean of a_r / b_r and its 95%
  t-interval (of the mean log ratio, `kd_ntk.science.stats.t_interval`),
  exponentiated. Pairing by round cancels the machine's drift between rounds;
  needs at least 2 rounds (else the interval is nan)."""
  logs = [math.log(x / y) for x, y in zip(a, b)]
  if len(logs) < 2:
    value = math.exp(logs[0])
    return value, math.nan, math.nan
  mean, low, high = stats.t_interval(logs)
  return math.exp(mean), math.exp(low), math.exp(high)


def paired_record(a, b) -> dict:
  """`paired_ratio(a, b)` as JSON fields: ratio, low, high (None without an
  interval) and the number of rounds."""
  ratio, low, high = paired_ratio(a, b)
  rounded = lambda v: round(v, 3) if math.isfinite(v) else None
  return dict(
    ratio=round(ratio, 3), low=rounded(low), high=rounded(high), rounds=len(a)
  )
