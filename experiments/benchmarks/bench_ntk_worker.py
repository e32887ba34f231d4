"""One measurement of `bench_ntk.py`, run in its own process: a Gram and its
record.

`worker(args)` builds the model's `f(params, x)` and inputs, runs one method
(a neural-tangents implementation, or one of kd_ntk's with its plan from
`kd_ntk.ntk.explain`), times it and returns the JSON record whose fields
`bench_ntk.py`'s docstring lists. For own methods with a FLOP count it times a
second, warm call and sets its rate against the matmul peak measured in the
same process (the highest of the readings before the Gram and after each of
its two calls).
"""

import os
import time

import numpy as np

import bench_machine  # experiments/benchmarks/, the script's own folder
from kd_ntk import host_malloc

NT_IMPLEMENTATIONS = {
  "nt:jc": "JACOBIAN_CONTRACTION",
  "nt:sd": "STRUCTURED_DERIVATIVES",
  "nt:ntvp": "NTK_VECTOR_PRODUCTS",
}
OWN = ("own:structured", "own:jacobian", "own:ntvp")
NT = tuple(NT_IMPLEMENTATIONS)
WHAT = "trace_gram"


def _gflop(flops: float):
  """GFLOP rounded, or None when the plan has no FLOP count (ntvp)."""
  return round(flops / 1e9, 1) if np.isfinite(flops) else None


def _nt_runner(args, f, params, x, *, record):
  """A call computing neural-tangents' trace Gram (summed over logits)."""
  import jax  # pylint: disable=g-import-not-at-top
  import neural_tangents as nt  # pylint: disable=g-import-not-at-top
  from jax.interpreters import ad  # pylint: disable=g-import-not-at-top

  if not hasattr(ad, "source_info_util"):
    # neural-tangents 0.6.5's structured derivatives read two aliases that
    # JAX 0.5 no longer exports from `ad`; the modules themselves exist.
    from jax._src import source_info_util  # pylint: disable=g-import-not-at-top

    ad.source_info_util, ad.config = source_info_util, jax.config
    record["nt_shim"] = "ad.source_info_util, ad.config aliased"

  impl = getattr(nt.NtkImplementation, NT_IMPLEMENTATIONS[args.method])
  ntvp = args.method == "nt:ntvp"
  batch = min(args.nt_ntvp_batch_size if ntvp else args.nt_batch_size, args.n)
  kernel_fn = nt.batch(
    nt.empirical_ntk_fn(f, trace_axes=(-1,), vmap_axes=0, implementation=impl),
    batch_size=batch,
    store_on_device=False,
  )
  record["nt_batch_size"] = batch
  c = float(args.num_classes)
  return lambda: c * np.asarray(kernel_fn(x, None, params))  # mean -> sum


def _own_runner(args, f, params, x, *, record):
  """A call computing kd_ntk's Gram; the plan's fields go into `record`."""
  # pylint: disable-next=g-import-not-at-top
  from kd_ntk.ntk import empirical_ntk, explain

  options = dict(
    method=args.method.split(":")[1],
    block_size=args.block_size,
    cache_bytes=int(args.cache_gib * 2**30) if args.cache_gib else None,
  )
  plan = explain(f, params, x, **options)
  record.update(
    block_size=plan.block_size,
    cache_gib=args.cache_gib or None,
    plan_method=plan.method,
    layout=plan.layout,
    compact_convs=len(plan.compact_convs),
    panel_blocks=plan.panel_blocks,
    prepared_blocks=plan.prepared_examples // plan.block_size,
    feature_mib_per_example=round(plan.feature_bytes / 2**20, 3),
    plan_gflop=_gflop(plan.total_flops),
    plan_gram_gflop=_gflop(plan.gram_flops),
    plan_feature_gflop=_gflop(plan.feature_flops),
  )
  record["matmul_peak_before_gflops"] = round(
    bench_machine.matmul_peak_gflops(args.peak_size), 1
  )
  return lambda: empirical_ntk(f, params, x, progress=args.progress, **options)


def _time_warm_call_against_peak(run, gram, args, record):
  """The warm call's rate against the highest matmul peak reading.

  The machine's rate drifts (a shared VM: 200-276 GFLOP/s within minutes),
  so the peak is also measured after each call and the highest reading is the
  divisor; the peak is a warm matmul, so the rate set against it comes from a
  second, warm call (no tracing or compilation).
  """
  peak_size = args.peak_size
  after = [bench_machine.matmul_peak_gflops(peak_size)]
  if record.get("plan_gflop") is not None:
    meter = bench_machine.StealMeter().start()
    start = time.perf_counter()
    del gram
    gram = run()
    record["warm_seconds"] = round(time.perf_counter() - start, 3)
    record["warm_steal_fraction"] = meter.fraction()
    after.append(bench_machine.matmul_peak_gflops(peak_size))
  record["matmul_peak_after_gflops"] = round(max(after), 1)
  peak = max(record["matmul_peak_before_gflops"], round(max(after), 1))
  record["matmul_peak_gflops"] = peak
  if "warm_seconds" in record:
    cold, warm = (
      record["plan_gflop"] / record[k] for k in ("seconds", "warm_seconds")
    )
    record.update(
      achieved_gflops=round(warm, 1),
      fraction_of_peak=round(warm / peak, 3),
      cold_achieved_gflops=round(cold, 1),
      cold_fraction_of_peak=round(cold / peak, 3),
    )
  return gram


def worker(args) -> dict:
  """Runs one measurement in this process and returns its JSON record."""
  import jax  # pylint: disable=g-import-not-at-top
  from kd_ntk.models import (  # pylint: disable=g-import-not-at-top
    get_model,
    inference_fn,
    init_variables,
    parameter_count,
  )

  shape = tuple(int(v) for v in args.input_shape.split(","))
  x, source = bench_machine.ntk_inputs(args.n, args.seed, shape)
  model = get_model(args.model, args.num_classes)
  f, params = inference_fn(
    model, init_variables(model, jax.random.PRNGKey(args.seed), shape)
  )
  record = dict(
    what=f"{args.model}_{source}_{WHAT}",
    model=args.model,
    method=args.method,
    n=args.n,
    input_shape=list(shape),
    params=parameter_count(params),
    backend=jax.default_backend(),
    devices=jax.device_count(),
    jax=jax.__version__,
    **bench_machine.machine_fields(),
  )
  own = not args.method.startswith("nt:")
  make_runner = _own_runner if own else _nt_runner
  run = make_runner(args, f, params, x, record=record)
  record["malloc_defaults"] = os.environ.get(host_malloc.OPT_OUT_ENV) != "0"
  gram = bench_machine.timed_first_call(run, record)
  if own:
    gram = _time_warm_call_against_peak(run, gram, args, record)
  if args.save:
    np.save(args.save, np.asarray(gram, np.float32))
  return record
