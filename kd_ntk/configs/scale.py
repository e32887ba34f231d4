"""The CIFAR experiments at scale: a TPU pod slice or multi-GPU hosts.

Every process of the run executes the same command (see kd_ntk/distributed.py);
the global batch is split over all devices of all processes. NOT RUN HERE: these
variants were built and unit-tested on a CPU machine only.

Launch (one line per process / worker; DIR is a prepared TFDS data_dir visible
from every host, runs/ a file system shared by all hosts, e.g. NFS or GCS FUSE):
  # TPU VM pod slice: the same command on every worker.
  gcloud compute tpus tpu-vm ssh NAME --worker=all --command="cd kd_ntk && \
      python experiments/reproduce.py --distributed \
      --config=kd_ntk/configs/scale.py:reproduce,cifar100,tpu_pod,data_dir=DIR \
      --workdir=/mnt/shared/runs/c100_pod"
  # SLURM, one task per GPU host:
  srun --nodes=2 --ntasks-per-node=1 python experiments/train_teacher.py
  --distributed \
      --config=kd_ntk/configs/scale.py:teacher,cifar10,multi_gpu,data_dir=DIR \
      --workdir=/shared/runs/c10_teacher

Variants (combine one of each):
  job:      reproduce (default; experiments/reproduce.py) | teacher
            (experiments/train_teacher.py)
  dataset:  cifar10 (default) | cifar100 | mobilenet   (as in reproduce.py)
  platform: tpu_pod (global batch 2048, e.g. 32 chips x 64) | multi_gpu (global
            batch 1024, e.g. 2 hosts x 8 GPUs x 64) | cpu (global batch 128:
            local processes on one machine; the lr is the paper's)
  quick:    tiny models and subsets, for a multi-process smoke run on a CPU.
Scale keys (taken out of the overrides before they are applied):
  global_batch=N     global batch, split over all devices (divisible by their
                     count)
  data_dir=PATH      TFDS data_dir (every host must see it)
  lr_rule=linear     linear | sqrt | none: lr = base_lr · (global_batch / 128)^k
  warmup_epochs=5.0  linear lr warm-up when the batch is scaled up
Other `key=value` overrides apply to the job's config as usual (dotted for
blocks).
"""

import ml_collections

from kd_ntk.configs import common
from kd_ntk.configs import reproduce as reproduce_config
from kd_ntk.configs import teacher as teacher_config

JOBS = {"reproduce", "teacher"}
DATASETS = {"cifar10", "cifar100", "mobilenet"}
# Platform -> default global batch.
PLATFORMS = {"tpu_pod": 2048, "multi_gpu": 1024, "cpu": 128}
VARIANTS = JOBS | DATASETS | set(PLATFORMS) | {"quick"}
# The batch the paper's (and reproduce.py's) learning rates are for.
BASE_BATCH = 128
LR_EXPONENT = {"linear": 1.0, "sqrt": 0.5, "none": 0.0}
SCALE_KEYS = ("global_batch", "data_dir", "lr_rule", "warmup_epochs")


def one_of(variants, group, default, what):
  chosen = variants & group
  if len(chosen) > 1:
    raise ValueError(f"scale.py: choose one {what}, got {sorted(chosen)}.")
  return chosen.pop() if chosen else default


def scaled_learning_rate(base_lr: float, global_batch: int, rule: str) -> float:
  """lr = base_lr · (global_batch / 128)^k, k = 1 (linear), ½ (sqrt) or 0.

  The linear rule with warm-up is Goyal et al. (2017), "Accurate, Large
  Minibatch SGD"; 128 is the batch the paper's learning rates were tuned for.
  """
  if rule not in LR_EXPONENT:
    raise ValueError(
      f"scale.py: lr_rule={rule!r}; use one of {sorted(LR_EXPONENT)}."
    )
  return base_lr * (global_batch / BASE_BATCH) ** LR_EXPONENT[rule]


def scale_block(platform, global_batch, *, data_dir, lr_rule, warmup_epochs):
  """The scale-out choices, recorded with the run (config.json)."""
  s = ml_collections.ConfigDict()
  s.platform = platform  # tpu_pod | multi_gpu | cpu.
  # Global batch over all devices of all processes.
  s.global_batch = global_batch
  s.base_batch = BASE_BATCH  # Batch the base learning rates were tuned for.
  s.lr_rule = lr_rule  # linear | sqrt | none.
  # Warm-up applied when global_batch > base_batch.
  s.warmup_epochs = warmup_epochs
  s.data_dir = data_dir  # TFDS data_dir every host reads.
  return s


def scale_teacher(config, global_batch, *, data_dir, lr_rule, warmup_epochs):
  """Sets a teacher-style config's batch, learning rate, warm-up, data_dir."""
  config.batch_size = global_batch
  # A multiple of the global batch, so divisible by the device count like it.
  config.eval_batch_size = global_batch * max(1, 1024 // global_batch)
  config.optimizer.learning_rate = scaled_learning_rate(
    config.optimizer.learning_rate, global_batch, lr_rule
  )
  if global_batch > BASE_BATCH:
    config.optimizer.warmup_epochs = warmup_epochs
  if data_dir:
    config.data_dir = data_dir
  return config


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  variants, overrides = common.parse_arg(arg)
  common.check_variants(variants, VARIANTS, "scale.py")
  job = one_of(variants, JOBS, "reproduce", "job (reproduce | teacher)")
  dataset = one_of(variants, DATASETS, "cifar10", "dataset")
  platform = one_of(variants, set(PLATFORMS), "cpu", "platform")
  global_batch = int(overrides.pop("global_batch", PLATFORMS[platform]))
  data_dir = str(overrides.pop("data_dir", ""))
  lr_rule = str(overrides.pop("lr_rule", "linear"))
  warmup_epochs = float(overrides.pop("warmup_epochs", 5.0))
  if global_batch < 1:
    raise ValueError(f"scale.py: global_batch={global_batch} must be positive.")
  scaled = dict(
    global_batch=global_batch,
    data_dir=data_dir,
    lr_rule=lr_rule,
    warmup_epochs=warmup_epochs,
  )

  if job == "teacher":
    config = teacher_config.get_config(
      "cifar100" if dataset == "cifar100" else "cifar10"
    )
    if dataset == "mobilenet":
      config.dataset, config.model = "cifar100", "mobilenetv3_wide"
    if "quick" in variants:
      config.model, config.epochs = "cnn_tiny", 2
      config.train_subset, config.test_subset = (
        4 * global_batch,
        2 * global_batch,
      )
    scale_teacher(config, **scaled)
  else:
    config = reproduce_config.get_config(dataset)
    if "quick" in variants:
      config.teacher.model, config.teacher.epochs = "cnn_tiny", 2
      config.teacher.train_subset = 4 * global_batch
      config.teacher.test_subset = 2 * global_batch
      config.students = ml_collections.ConfigDict(
        {"cnn-w2": {"family": "cnn", "width": 2}}
      )
      config.seeds, config.students_run.epochs = (0,), 2
      config.early.candidates = (1,)
      config.students_run.train_eval_size = global_batch
      config.complexity.num_examples = 64
      config.complexity.student_width = 0  # The only student, width 2.
      config.complexity.teacher_epoch_stride = (
        config.complexity.student_epoch_stride
      ) = 1
      config.binary.seeds = (0,)
    # Students copy batch sizes and data_dir.
    scale_teacher(config.teacher, **scaled)
    config.students_run.learning_rate = scaled_learning_rate(
      config.students_run.learning_rate, global_batch, lr_rule
    )
    if global_batch > BASE_BATCH:  # Students warm up like their teacher.
      config.students_run.warmup_epochs = warmup_epochs
  config.scale = scale_block(platform, **scaled)
  return common.apply_overrides(config, overrides)
