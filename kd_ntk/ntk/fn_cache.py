"""A bounded cache of per-network-function work, keyed weakly on the function.

`empirical_ntk` reads the jaxpr of `f` and compiles per-block functions;
redoing that on every call would dominate small kernels and Monte-Carlo
loops. `FunctionCache` keeps that work between calls without owning the
user's objects:

  * entries are keyed *weakly* on the network function `f`: they disappear
    when the caller drops `f`, so kd_ntk never keeps a model, a closure or
    its BatchNorm statistics alive;
  * values never hold `f` itself: builders receive `weak_callable(f)`;
  * at most `max_per_fn` entries per function (least recently used dropped);
  * functions that cannot be hashed or weakly referenced are not cached
    (built afresh on every call); bound methods are re-created on every
    attribute access, so they hit only while the caller holds the same one.

`empirical_ntk` uses `DEFAULT_CACHE` unless given `cache=`; `ntk_block_fn`
owns one per returned kernel. `clear()` empties a cache.
"""

import collections
import weakref
from collections.abc import Callable, Hashable
from typing import Any


def weak_callable(f: Callable) -> Callable:
  """Calls `f` through a weak reference (raises if `f` was collected)."""
  try:
    ref = weakref.ref(f)
  except TypeError:
    return f

  def call(*args, **kwargs):
    fn = ref()
    if fn is None:
      raise RuntimeError(
        "kd_ntk.ntk: the network function was garbage-collected "
        "while a compiled kernel still used it."
      )
    return fn(*args, **kwargs)

  return call


class FunctionCache:
  """`get(f, key, build)`: `build(weak_f)` once per live `f` and key."""

  def __init__(self, max_per_fn: int = 8):
    if max_per_fn < 1:
      raise ValueError(f"max_per_fn must be >= 1; got {max_per_fn}.")
    self.max_per_fn = max_per_fn
    self._tables: "weakref.WeakKeyDictionary[Callable, collections.OrderedDict]" = weakref.WeakKeyDictionary()

  def get(
    self, f: Callable, key: Hashable, build: Callable[[Callable], Any]
  ) -> Any:
    try:
      table = self._tables.get(f)
      if table is None:
        table = self._tables[f] = collections.OrderedDict()
      hash(key)
    except TypeError:  # unhashable or not weakly referenceable: no caching
      return build(f)
    if key in table:
      table.move_to_end(key)
      return table[key]
    value = build(weak_callable(f))
    table[key] = value
    while len(table) > self.max_per_fn:
      table.popitem(last=False)
    return value

  def __len__(self) -> int:
    return sum(len(t) for t in self._tables.values())

  def clear(self) -> None:
    self._tables.clear()


DEFAULT_CACHE = FunctionCache()
