"""empirical_ntk's input checks, device spreading and its cache of compiled work.

Block sizes are capped at n; non-finite inputs or parameters are refused in
one line; the Gram matrix spread over the 4 fake CPU devices of
tests/conftest.py equals the one-device result bit for bit; the cache never
keeps a network function (or what it closes over) alive.
"""

import gc
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_ntk.ntk import empirical_ntk, explain
from kd_ntk.ntk.blocking import assign_tasks, panel_tasks, panels
from kd_ntk.ntk.fn_cache import DEFAULT_CACHE, FunctionCache

from ntk_helpers import F32_TOL, reference_full, rel_error, setup_net


@pytest.fixture(scope="module")
def mlp():
  f, params, x = setup_net("mlp16", (4, 4, 1), 9, num_classes=3)
  return f, params, x, np.einsum("ijcc->ij", reference_full(f, params, x))


def test_huge_block_size_is_capped_at_n(mlp):
  f, params, x, ref = mlp
  gram = empirical_ntk(
    f, params, x, block_size=10**6
  )  # aborted inside XLA before
  assert rel_error(gram, ref) < F32_TOL
  cross = empirical_ntk(f, params, x[:4], x[4:], block_size=20_000)
  assert rel_error(cross, ref[:4, 4:]) < F32_TOL


def test_a_smaller_cache_gives_the_same_matrix_and_bad_budgets_are_refused(
  mlp,
):
  f, params, x, ref = mlp
  whole = empirical_ntk(f, params, x, method="jacobian", block_size=2)
  # One block's features only: panels of one row block, columns re-prepared.
  tight = empirical_ntk(
    f, params, x, method="jacobian", block_size=2, cache_bytes=1
  )
  np.testing.assert_array_equal(tight, whole)
  assert rel_error(tight, ref) < F32_TOL
  for bad in (0, -5, 2.5, True, "1GB"):
    with pytest.raises(ValueError, match="cache_bytes must be a positive"):
      empirical_ntk(f, params, x, cache_bytes=bad)
    with pytest.raises(ValueError, match="cache_bytes must be a positive"):
      explain(f, params, x, cache_bytes=bad)


@pytest.mark.parametrize("where", ["x1", "x2", "param"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_inputs_and_parameters_are_refused(mlp, where, value):
  f, params, x, _ = mlp
  x1, x2 = x.copy(), x[:3].copy()
  if where == "x1":
    x1[2, 1, 1, 0] = value
  elif where == "x2":
    x2[0, 0, 0, 0] = value
  else:
    leaves, treedef = jax.tree_util.tree_flatten(params)
    leaves = [np.asarray(l).copy() for l in leaves]
    leaves[-1].reshape(-1)[0] = value
    params = jax.tree_util.tree_unflatten(treedef, leaves)
  with pytest.raises(ValueError, match="non-finite") as err:
    empirical_ntk(f, params, x1, x2)
  assert "\n" not in str(err.value)
  assert (where == "param") == ("parameter" in str(err.value))


def test_devices_spread_gives_the_one_device_result_exactly(mlp):
  f, params, x, ref = mlp
  devices = jax.local_devices()
  assert len(devices) == 4  # tests/conftest.py
  x2 = x[:5] * 0.5
  for kwargs in (dict(output="trace"), dict(output="full")):
    one = empirical_ntk(
      f, params, x, block_size=2, devices=devices[:1], **kwargs
    )
    many = empirical_ntk(f, params, x, block_size=2, devices=devices, **kwargs)
    default = empirical_ntk(f, params, x, block_size=2, **kwargs)
    np.testing.assert_array_equal(many, one)
    np.testing.assert_array_equal(default, one)
    cross_one = empirical_ntk(
      f, params, x, x2, block_size=2, devices=devices[3:], **kwargs
    )
    cross = empirical_ntk(
      f, params, x, x2, block_size=2, devices=devices, **kwargs
    )
    np.testing.assert_array_equal(cross, cross_one)
  assert rel_error(empirical_ntk(f, params, x, block_size=2), ref) < F32_TOL
  with pytest.raises(ValueError, match="devices must be"):
    empirical_ntk(f, params, x, devices=[])


def test_task_assignment_is_balanced_and_pure():
  tasks = [t for p in panels(5, 2) for t in panel_tasks(*p, 5, symmetric=True)]
  pairs = sorted((i, j) for j, rows in tasks for i in rows)
  assert pairs == [(i, j) for i in range(5) for j in range(i, 5)]  # each once
  costs = [len(rows) for _, rows in tasks]
  owner = assign_tasks(costs, 3)
  assert owner == assign_tasks(costs, 3)
  load = [sum(c for c, d in zip(costs, owner) if d == k) for k in range(3)]
  assert max(load) - min(load) <= max(costs)
  assert assign_tasks(costs, 1) == [0] * len(costs)
  cross = panel_tasks(0, 2, 3, symmetric=False)
  assert cross == [(0, (0, 1)), (1, (0, 1)), (2, (0, 1))]


def test_cache_reuses_work_but_never_keeps_the_network_alive(mlp):
  _, params, x, _ = mlp
  big = jnp.ones((512, 512))  # stands for closed-over BatchNorm statistics
  traces = []

  def make():
    def f(p, xx):
      traces.append(1)
      h = xx.reshape(xx.shape[0], -1)
      return jnp.tanh(h @ p["w"]) @ p["v"] + 0.0 * big[0, 0]

    return f

  p = dict(
    w=np.ones((16, 8), np.float32) * 0.1, v=np.ones((8, 3), np.float32) * 0.1
  )
  cache = FunctionCache(max_per_fn=4)
  f = make()
  empirical_ntk(f, p, x, cache=cache, devices=jax.local_devices()[:1])
  count, size = len(traces), len(cache)
  assert size > 0
  empirical_ntk(f, p, x, cache=cache, devices=jax.local_devices()[:1])
  assert len(traces) == count and len(cache) == size  # reused, not rebuilt
  ref = weakref.ref(f)
  del f
  gc.collect()
  assert ref() is None and len(cache) == 0  # nothing kept alive
  g = make()
  empirical_ntk(g, p, x)  # the default cache, too
  ref = weakref.ref(g)
  del g
  gc.collect()
  assert ref() is None
  with pytest.raises(ValueError, match="max_per_fn"):
    FunctionCache(0)
  assert isinstance(DEFAULT_CACHE, FunctionCache)


def test_cache_is_bounded_per_function(mlp):
  f, params, _, _ = mlp
  cache = FunctionCache(max_per_fn=2)
  for n in (3, 4, 5, 6):
    xs = np.zeros((n, 4, 4, 1), np.float32)
    empirical_ntk(f, params, xs, cache=cache, method="jacobian")
  assert len(cache) <= 2


def _host_gram(x, **overrides):
  """`blocked_gram` of x xᵀ on the host, blocks of 3 rows: the driver alone."""
  from kd_ntk.ntk.blocking import blocked_gram

  args = dict(
    prepare=lambda b, d: b,
    pair=lambda a, b, d: a @ b.T,
    mirror=lambda k: k.T,
    x1=x,
    x2=None,
    block_size=3,
    tail_shape=(),
    out_dtype=np.float32,
    cache_bytes=10**6,
    num_devices=4,
    to_device=lambda t, d: t,
  )
  return blocked_gram(**{**args, **overrides})


def test_a_process_runs_only_its_devices_tasks_and_the_parts_sum_to_the_whole():
  """Simulated processes: each runs the tasks of its devices (`local`), leaves the
  rest zero, and the parts add up to the one-process matrix exactly."""
  x = np.random.default_rng(0).normal(size=(11, 3)).astype(np.float32)
  whole = _host_gram(x)
  parts = [_host_gram(x, local=devices) for devices in ([0, 1], [2, 3])]
  assert all(np.count_nonzero(p) for p in parts)
  assert not np.any((parts[0] != 0) & (parts[1] != 0))  # Disjoint blocks.
  np.testing.assert_array_equal(parts[0] + parts[1], whole)
  np.testing.assert_allclose(whole, x @ x.T, rtol=1e-6)


@pytest.mark.parametrize("num_devices", [1, 3])
def test_panels_prepare_the_counted_blocks_and_carry_one_to_the_next(
  num_devices,
):
  """Each block prepared as often as `prepared_blocks` says (fewer than one per
  row plus one per outside column: the carried ones), and the matrix exact."""
  from kd_ntk.ntk.blocking import prepared_blocks, schedule

  x = np.random.default_rng(1).normal(size=(20, 3)).astype(np.float32)
  calls = []

  def prepare(block, device):
    if isinstance(block, np.ndarray):  # not the shape probe's tracer
      calls.append(device)
    return block

  kernel = _host_gram(
    x,
    prepare=prepare,
    cache_bytes=3 * 3 * 3 * 4,  # three blocks: panels of two rows
    num_devices=num_devices,
  )
  np.testing.assert_allclose(kernel, x @ x.T, rtol=1e-6)
  work = schedule(7, 7, panel_blocks=2, symmetric=True, num_devices=num_devices)
  uncarried = sum(
    (p.stop - p.first) + sum(1 for j, _ in p.tasks if not p.first <= j < p.stop)
    for p in work
  )
  assert len(calls) == prepared_blocks(work, True) < uncarried
  assert all(p.carried for p in work[:-1]) and not work[-1].carried
