"""Each benchmark in experiments/benchmarks/ runs on tiny sizes and prints its JSON lines.

Smoke runs only: the numbers are not checked (speed targets are measured by
running the scripts, never asserted in tests), the records' shape is.
"""

from launch_helpers import json_lines, run_script


def _records(script, *args):
  result = run_script(f"benchmarks/{script}", *args)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
  records = json_lines(result.stdout)
  assert records, result.stdout
  return records


def test_bench_train():
  records = _records("bench_train.py", "--quick", "--conv_grad_ab", "--pool_ab")
  steps = [r for r in records if r["what"] == "train_step_images_per_second"]
  assert steps and all(r["images_per_second"] > 0 for r in steps)
  (speedup,) = [r for r in records if r["what"] == "conv_grad_speedup"]
  assert speedup["ratio"] > 0 and speedup["xla_conv_grad_images_per_second"] > 0
  (pools,) = [r for r in records if r["what"] == "training_pool_speedup"]
  assert pools["ratio"] > 0 and pools["other_pool_images_per_second"] > 0
  assert pools["other_pool"] in {"first_max_pool", "one_hot_pool"}


def test_bench_distill(tmp_path):
  records = _records(
    "bench_distill.py",
    "--teacher_config=tiny,epochs=2",
    "--student=mlp16",
    "--rounds=1",
    "--batch_size=32",
  )
  modes = {r["mode"] for r in records if r["what"] == "epoch_seconds"}
  assert modes == {"labels", "offline", "online"}
  assert any(
    r["what"] == "compiles" and r["distill_step_cache_size"] == 1
    for r in records
  )


def test_bench_complexity():
  records = _records("bench_complexity.py", "--sizes=64", "--num_features=16")
  assert {r.get("method") for r in records} >= {"cholesky", "eigh"}


def test_bench_ntk():
  records = _records(
    "bench_ntk.py",
    "--n=32",
    "--methods=own:structured,own:jacobian",
    "--no_check",
    "--peak_size=1024",
  )
  grams = [r for r in records if r.get("method", "").startswith("own:")]
  assert len(grams) == 2 and all(r["seconds"] > 0 for r in grams)
  # The rate set against the (warm) matmul peak comes from a warm call.
  for r in grams:
    warm_rate = r["plan_gflop"] / r["warm_seconds"]
    assert abs(r["achieved_gflops"] - warm_rate) <= 0.02 * warm_rate + 0.1
    assert r["fraction_of_peak"] > 0 and r["cold_fraction_of_peak"] > 0
    assert r["cpus"] >= 1 and "cpu_model" in r  # which machine ran it


def test_bench_scale():
  records = _records(
    "bench_scale.py", "--model=mlp16", "--steps=2", "--repeats=1"
  )
  runs = {r["layout"]: r for r in records if "layout" in r}
  assert (runs["reference"]["processes"], runs["candidate"]["processes"]) == (
    1,
    2,
  )
  # Same global batches and steps in both layouts: the same final loss.
  assert (
    abs(runs["reference"]["final_loss"] - runs["candidate"]["final_loss"])
    < 1e-5
  )
  summary = records[-1]
  assert summary["what"] == "multiprocess_overhead" and summary["ratio"] > 0


def test_bench_kernels():
  records = _records(
    "bench_kernels.py",
    "--models=mlp",
    "--kernels=empirical,monte_carlo",
    "--n=32",
  )
  grams = {r["kernel"]: r for r in records if r.get("status") == "ok"}
  assert set(grams) == {"empirical", "monte_carlo"}
  assert all(r["finite"] and r["seconds"] > 0 for r in grams.values())
  assert grams["empirical"]["ratio_vs_empirical"] == 1.0


def test_bench_reproduce():
  records = _records(
    "bench_reproduce.py", "--config=kd_ntk/configs/reproduce.py:tiny"
  )
  kinds = [r["what"] for r in records]
  assert kinds[:2] == ["teacher", "student cnn-w2"]
  assert all(r["fixed_cpu_seconds_per_run"] > 0 for r in records[:2])
  assert records[-1]["runs"] == 8 and records[-1]["estimated_seconds"] > 0
