"""Teacher (or label-only student) training on Fashion-MNIST by default.

Launch:
  python experiments/train_teacher.py --config=kd_ntk/configs/teacher.py \
      --workdir=runs/teacher
  python experiments/train_teacher.py --config=kd_ntk/configs/teacher.py:quick \
      --workdir=/tmp/t
  python experiments/train_teacher.py \
      --config=kd_ntk/configs/teacher.py:student_lenet5 \
      --workdir=runs/lenet5_labels

Variants: quick (tiny CPU smoke run), tiny (unit tests), student_lenet5 (the
LeNet-5 student trained alone on labels), cifar10 (ResNet-56 teacher on
CIFAR-10 from a prepared TFDS data_dir).
"""

import ml_collections

from kd_ntk.configs import common

VARIANTS = {"quick", "tiny", "student_lenet5", "cifar10", "cifar100"}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  variants, overrides = common.parse_arg(arg)
  common.check_variants(variants, VARIANTS, "teacher.py")
  config = ml_collections.ConfigDict()
  config.seed = 0  # Root PRNG seed (init, dropout, data order).
  common.data_block(config)
  config.model = "cnn"  # A key of kd_ntk.models.MODELS.
  config.model_kwargs = ml_collections.ConfigDict()  # Overrides of the preset.
  config.epochs = 10  # Epochs; a checkpoint is kept for each.
  config.batch_size = 128  # Global batch (split over devices).
  config.eval_batch_size = 1000  # Evaluation batch.
  config.label_smoothing = 0.0  # ε of label smoothing.
  config.optimizer = common.optimizer_block(learning_rate=0.05)

  if "student_lenet5" in variants:
    config.model = "lenet5"
    config.epochs = 8
  if "quick" in variants:
    config.model = "cnn_tiny"
    config.epochs = 2
    config.train_subset = 4096
    config.test_subset = 2000
  if "tiny" in variants:
    config.model = "mlp"
    config.model_kwargs = ml_collections.ConfigDict({"width": 8})
    config.epochs = 1
    config.batch_size = 32
    config.eval_batch_size = 64
    config.train_subset = 128
    config.test_subset = 64
  if variants & {"cifar10", "cifar100"}:
    config.dataset = "cifar100" if "cifar100" in variants else "cifar10"
    config.model = "resnet56"
    config.epochs = 256
    config.optimizer = common.optimizer_block(
      learning_rate=0.1, weight_decay=5e-4
    )
    config.augment.pad = 4
    config.augment.flip = True
  return common.apply_overrides(config, overrides)
