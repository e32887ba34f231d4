"""Training-step throughput per model preset, against plain PyTorch, and the KD
step.

  # All presets, torch, KD step:
  python experiments/benchmarks/bench_train.py
  python experiments/benchmarks/bench_train.py --models=lenet5 --epoch_models= \
      --rounds=7
  # Seconds: a smoke run.
  python experiments/benchmarks/bench_train.py --quick

Prints one JSON line per measurement, each with the XLA flags in force and the
1-minute load average (the machine may be shared: read numbers beside it);
the timed lines also carry steal_fraction, the share of the machine's CPU
time the hypervisor gave to other guests while they ran
(`bench_machine.StealMeter`).

* train_step_images_per_second: the jitted label step of each preset at
  --batch_size; `ratio_vs_reference` divides by the reference preset (LeNet-5).
* torch_train_step_images_per_second / ratio_vs_torch: the same LeNet-5, loss
  and optimizer (SGD, Nesterov momentum 0.9, weight decay 5e-4) in plain
  PyTorch on the CPU (NCHW, its default threads or --torch_threads; on a busy
  machine its default two threads spin and slow down several-fold, so read
  it beside load_1min), timed alternately with the
  JAX step in the same process, round by round; the ratio is the geometric
  mean of the per-round paired ratios with a 95% t-interval (`low`, `high`,
  `round_ratios`); target ratio ≥ 0.9. Skipped
  with a message when torch is not installed (it is not a requirement).
* conv_grad_speedup (--conv_grad_ab): the LeNet-5 step against the same
  step with XLA's own convolution gradients (`kd_ntk.models.conv_grad` off),
  timed in the same alternation, paired by round.
* training_pool_speedup (--pool_ab): the LeNet-5 step against the same
  step with the training pool the package does not pick on this runtime
  (`other_pool`; `kd_ntk.models.pooling.training_form`), timed in the same
  alternation, paired by round.
* kd_step_images_per_second: the distillation step (student update plus the
  teacher's forward pass, `kd_ntk.distill.steps`), student LeNet-5, teacher
  --kd_teacher; `ratio_vs_label_step` divides by the student's label step.
* fashion_mnist_epoch_seconds: one epoch of the data set (--epoch_models).

Contenders are timed alternately, --rounds times --steps steps each; rates
are the medians over rounds, ratios to PyTorch are paired by round.

Where the LeNet-5 step's time goes (JAX 0.5.3, legacy runtime, per-HLO
timings from `jax.profiler` with --xla_cpu_enable_xprof_traceme, 2026-11-30):
XLA rewrites the five convolutions into oneDNN *forward* convolutions, 7.1 of
about 11 ms: conv1's filter gradient (a forward convolution with a 24x24
kernel over the batch as channels) 2.45 ms, conv2's input gradient 1.96 ms,
conv1 1.19 ms, conv2 0.80 ms, conv2's filter gradient 0.66 ms; pooling's
argmax 0.38 ms; the dense layers about 0.7 ms.

Profiled again on 2026-11-30 after the two gradient levers below (same
method, both of XLA's threads summed, about 8 ms): conv1 1.6 ms, conv1's
filter-gradient product 1.4, conv2's band input-gradient product 1.0, conv2
1.0, conv2's filter gradient 0.9, and pool 1's one-hot backward (fused with
the ReLU mask and the band gradient's reassembly) 1.4 ms, its argmax 0.4.
PyTorch's own profile of its step (`torch.profiler`): convolution backward
3.5, max pooling 2.2 + 0.3, convolutions 1.5 ms.

What the package itself does for this step on the CPU (nothing to set here):
the XLA flag of `kd_ntk.xla_cpu` (JAX 0.5.x); max pooling whose backward
pass avoids XLA's scalar `select_and_scatter_add` loop in train mode
(`kd_ntk.models.pooling`; on the legacy runtime of JAX 0.5.x the window
maxima over strided taps with a custom JVP, `first_max_pool`, whose backward
is one select in the input's layout: the step 1.03-1.08x as fast as with
the one-hot form in the three-way alternation, 1.17x in a two-way one; on
JAX 0.10.2 the one-hot form, 1.18-1.20x as fast there); and, in train mode,
conv1's filter gradient as one matrix product of whole-row patches
(`kd_ntk.models.conv_grad`: 2.3 -> 1.3 ms for that operation; the step
1.09x [1.01, 1.18] as fast, paired over 15 rounds; the same for conv2, with
6 input channels, made the step slower) and conv2's input gradient as one
matrix product against a banded kernel matrix (1.3 -> 0.8 ms; the step
1.09x [1.015, 1.175] and 1.06x [0.97, 1.15] as fast as with conv1's lever
alone, 15 paired rounds each).

Levers measured and NOT adopted (no gain beyond noise, or a loss, on the
2-core machine): NCHW layouts, convolutions as im2col/Toeplitz matrix
products or on space-to-depth inputs (the forward convolutions as the banded
product: conv1 1.3 against 0.9 ms, conv2 1.1 against 0.55 ms), lax.scan over
several steps per call (16x slower in one measurement; cause not
investigated), 5 steps unrolled per call (+3%), --xla_cpu_use_mkl_dnn,
--xla_cpu_multi_thread_eigen=false, --xla_cpu_use_xnnpack, and on the newest
JAX --xla_cpu_use_onednn and the XNN/oneDNN fusion types.
--xla_cpu_enable_fast_math was faster but drops NaN/Inf semantics (the
training health checks rely on them). conv1's filter gradient as patchesᵀ ·
cotangents (a custom VJP, `conv_general_dilated_patches` + one GEMM): 2.6 ->
1.9 ms for that operation alone, but the whole step paired over 21 rounds ran
at 0.96 [0.90, 1.02] of XLA's own (the row-patch form above replaced it);
the pools' first-maximum one-hot from comparisons instead of argmax (0.85x);
JAX_CPU_ENABLE_ASYNC_DISPATCH=0 (no change beyond the run-to-run spread);
max pooling as a chain of selects over strided slices: 2.0 ms against 0.8 ms
for pool 1's forward and backward.
The step data-parallel over two host devices, one per core
(--xla_force_host_platform_device_count=2, batch sharded over a data mesh; with
and without --xla_cpu_multi_thread_eigen=false): 9,900-13,600 img/s against
14,700-16,400 on one device, three alternating triples of processes; paired
by triple 0.78 [0.58, 1.05] and 0.78 [0.48, 1.29] of the one-device rate
(slower in all three pairs; three pairs cannot exclude 1).
"""

import json
import os

import jax
from absl import app, flags

from kd_ntk import data

# experiments/benchmarks/, the script's own folder
from bench_machine import StealMeter
from paired_timing import alternate, medians, paired_record
from torch_reference import torch_lenet5_stepper
from train_steppers import (
  kd_stepper,
  label_stepper,
  other_pool_stepper,
  seconds_per_epoch,
  xla_conv_grad_stepper,
)

_MODELS = flags.DEFINE_list(
  "models",
  [
    "mlp16",
    "mlp128",
    "lenet5",
    "lenet5x8",
    "cnn_tiny",
    "cnn",
    "resnet8",
    "resnet20",
    "mobilenetv3_narrow",
  ],
  "Presets to time at --batch_size.",
)
_EPOCH_MODELS = flags.DEFINE_list(
  "epoch_models",
  ["mlp128", "lenet5", "cnn"],
  "Presets timed for one full Fashion-MNIST epoch.",
)
_REFERENCE = flags.DEFINE_string(
  "reference", "lenet5", "Preset the ratios divide by."
)
_KD_TEACHER = flags.DEFINE_string(
  "kd_teacher", "cnn", "Teacher preset of the KD step ('' = skip)."
)
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size.")
_STEPS = flags.DEFINE_integer(
  "steps", 30, "Timed steps per contender and round."
)
_ROUNDS = flags.DEFINE_integer(
  "rounds", 5, "Alternating rounds (medians and paired ratios are reported)."
)
_SETTLE = flags.DEFINE_float(
  "settle_s",
  0.2,
  "Idle seconds before each timed segment, so that the previous "
  "contender's spinning worker threads (OpenMP, Eigen) have gone to sleep.",
)
_TORCH = flags.DEFINE_bool(
  "torch", True, "Time the plain PyTorch LeNet-5 reference."
)
_TORCH_THREADS = flags.DEFINE_integer(
  "torch_threads",
  0,
  "torch.set_num_threads (0 = torch's "
  "default; 1 resists a busy machine better).",
)
_CONV_GRAD_AB = flags.DEFINE_bool(
  "conv_grad_ab",
  False,
  "Also time LeNet-5 with XLA's own convolution gradients "
  "(kd_ntk.models.conv_grad off) in the same alternation, and report the "
  "package's step against it, paired by round.",
)
_POOL_AB = flags.DEFINE_bool(
  "pool_ab",
  False,
  "Also time LeNet-5 with the training pool that kd_ntk.models.pooling does "
  "not pick on this runtime (first_max_pool or one_hot_pool) in the same "
  "alternation, and report the package's step against it, paired by round.",
)
_QUICK = flags.DEFINE_bool(
  "quick",
  False,
  "Smoke run: LeNet-5 and the KD step against "
  "an MLP teacher, 2 steps, 1 round, no epoch timing.",
)


def main(argv):
  del argv
  quick = _QUICK.value
  batch, num_steps, rounds = _BATCH.value, _STEPS.value, _ROUNDS.value
  names = list(dict.fromkeys([_REFERENCE.value] + _MODELS.value))
  epoch_models, kd_teacher = _EPOCH_MODELS.value, _KD_TEACHER.value
  if quick:
    names, epoch_models, kd_teacher, num_steps, rounds = (
      ["lenet5"],
      [],
      "mlp16",
      2,
      1,
    )

  def line(record):
    print(
      json.dumps(
        {
          **record,
          "batch_size": batch,
          "devices": jax.device_count(),
          "backend": jax.default_backend(),
          "jax": jax.__version__,
          "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "load_1min": round(os.getloadavg()[0], 2),
        }
      ),
      flush=True,
    )

  reference = names[0]
  torch_run = (
    torch_lenet5_stepper(batch, _TORCH_THREADS.value) if _TORCH.value else None
  )
  if _TORCH.value and torch_run is None:
    print(
      "torch is not installed: the PyTorch reference is skipped "
      "(pip install torch to measure it).",
      flush=True,
    )
  for name in names:
    runners = {name: label_stepper(name, batch)}
    if name == "lenet5" and torch_run is not None:
      runners["torch"] = torch_run
    if name == "lenet5" and _CONV_GRAD_AB.value:
      runners["xla_conv_grad"] = xla_conv_grad_stepper(batch)
    if name == "lenet5" and _POOL_AB.value:
      other_pool, runners["other_pool"] = other_pool_stepper(batch)
    meter = StealMeter().start()
    per_round = alternate(
      runners,
      batch_size=batch,
      num_steps=num_steps,
      rounds=rounds,
      settle_s=_SETTLE.value,
    )
    steal = {"steal_fraction": meter.fraction()}
    rate = medians(per_round)
    if name == reference:
      reference_rate = rate[name]
    line(
      {
        "what": "train_step_images_per_second",
        "model": name,
        "images_per_second": round(rate[name], 1),
        "ratio_vs_reference": round(rate[name] / reference_rate, 3),
        "reference": reference,
        **steal,
      }
    )
    if "torch" in rate:
      torch = __import__("torch")
      line(
        {
          "what": "torch_train_step_images_per_second",
          "model": "lenet5",
          "torch": torch.__version__,
          "torch_threads": torch.get_num_threads(),
          "images_per_second": round(rate["torch"], 1),
        }
      )
      paired = paired_record(per_round[name], per_round["torch"])
      line(
        {
          "what": "ratio_vs_torch",
          "model": "lenet5",
          **paired,
          "round_ratios": [
            round(x / y, 3) for x, y in zip(per_round[name], per_round["torch"])
          ],
          "target": 0.9,
          "ok": paired["ratio"] >= 0.9,
          "interval_above_target": (paired["low"] or 0.0) >= 0.9,
          **steal,
        }
      )
    if "xla_conv_grad" in per_round:
      line(
        {
          "what": "conv_grad_speedup",
          "model": "lenet5",
          "xla_conv_grad_images_per_second": round(rate["xla_conv_grad"], 1),
          **paired_record(per_round[name], per_round["xla_conv_grad"]),
          **steal,
        }
      )
    if "other_pool" in per_round:
      line(
        {
          "what": "training_pool_speedup",
          "model": "lenet5",
          "other_pool": other_pool,
          "other_pool_images_per_second": round(rate["other_pool"], 1),
          **paired_record(per_round[name], per_round["other_pool"]),
          **steal,
        }
      )
  if kd_teacher:
    kd_runners = {
      "kd": kd_stepper("lenet5", kd_teacher, batch),
      "labels": label_stepper("lenet5", batch),
    }
    meter = StealMeter().start()
    rate = medians(
      alternate(
        kd_runners,
        batch_size=batch,
        num_steps=num_steps,
        rounds=rounds,
        settle_s=_SETTLE.value,
      )
    )
    steal = {"steal_fraction": meter.fraction()}
    line(
      {
        "what": "kd_step_images_per_second",
        "student": "lenet5",
        "teacher": kd_teacher,
        "images_per_second": round(rate["kd"], 1),
        "ratio_vs_label_step": round(rate["kd"] / rate["labels"], 3),
        **steal,
      }
    )
  if epoch_models:
    splits = data.prepare_splits("fashion_mnist")
    for name in epoch_models:
      line(
        {
          "what": "fashion_mnist_epoch_seconds",
          "model": name,
          "seconds": round(seconds_per_epoch(name, splits, batch), 2),
          "examples": len(splits.train_labels),
        }
      )


if __name__ == "__main__":
  app.run(main)
