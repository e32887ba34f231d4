"""Student training by knowledge distillation from a teacher run
(Fashion-MNIST by default).

Launch (train the teacher first, with experiments/train_teacher.py):

  python experiments/distill.py \
      --config=kd_ntk/configs/distill.py:online --workdir=runs/online_t4
  # The teacher: teacher.py:quick in runs/teacher_quick.
  python experiments/distill.py \
      --config=kd_ntk/configs/distill.py:quick,offline \
      --workdir=/tmp/student_offline
  python experiments/distill.py \
      --config=kd_ntk/configs/distill.py:online,distill.teacher_workdir=runs/t,distill.temperature=1.0 \
      --workdir=runs/online_t1

Mode variants (one of; `kd_ntk.configs.fields` lists them): none (labels
only), offline (final teacher), early (checkpoint distill.early_epoch),
online (teacher checkpoint t at student epoch t), online_blend /
online_switch (per-step trajectory variants of online), anchors
(route-constrained optimisation: equally spaced anchor checkpoints),
progressive (two checkpoints, switched half-way), temperature_curriculum
(final teacher, τ from high to low), lockstep (teacher trained on labels in
the same run). Size variants: quick (CPU smoke run against
teacher.py:quick), tiny (unit tests), lenet5 (the LeNet-5 student).
Overrides: `key=value`, dotted for blocks.
"""

import ml_collections

from kd_ntk.configs import common, fields
from kd_ntk.configs import teacher as teacher_config

MODE_VARIANTS = set(fields.DISTILL_MODES) | set(fields.MODE_PRESETS)
VARIANTS = MODE_VARIANTS | {"quick", "tiny", "lenet5"}


def distill_block() -> ml_collections.ConfigDict:
  """How the student is taught; read by kd_ntk.distill.loop."""
  d = ml_collections.ConfigDict()
  # none | offline | early | online | anchors | lockstep.
  d.mode = "online"
  # Teacher run dir (not used by lockstep; optional for none).
  d.teacher_workdir = "runs/teacher"
  # τ of the KD term (the end value of a curriculum).
  d.temperature = 4.0
  # constant | linear | cosine (τ over the student's epochs).
  d.temperature_schedule = "constant"
  # τ at epoch 1 of a linear or cosine curriculum.
  d.temperature_start = 4.0
  # Weight α of label CE: α·CE + (1−α)·KD (0 = pure KD).
  d.alpha = 0.0
  # Multiply the KL by τ² (Hinton; the paper's loss).
  d.tau_squared = True
  # none | inverse_tau | inverse_tau_squared: lr ÷ τ or ÷ τ². Guards SGD
  # against the τ² gradient scale at τ > 1 (LeNet-5 at τ=4, lr 0.05, "none":
  # collapsed to chance).
  d.lr_scale = "inverse_tau"
  # Teacher checkpoint of mode=early (−1 = final).
  d.early_epoch = 4
  # Online: epoch t uses checkpoint ⌈tT/E⌉ + offset (0: the teacher at the
  # end of epoch t; −1: at its start).
  d.online_offset = 0
  # online: epoch | step_switch | step_blend; lockstep: epoch | step.
  d.granularity = "epoch"
  # mode=anchors: teacher checkpoints in order of use (negative counts from
  # the end: −1 = final).
  d.anchor_epochs = (2, 4, 6, 8)
  # Student epoch each anchor starts at (() = equal stages).
  d.anchor_switch_epochs = ()
  return d


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  variants, overrides = common.parse_arg(arg)
  common.check_variants(variants, VARIANTS, "distill.py")
  modes = variants & MODE_VARIANTS
  if len(modes) > 1:
    raise ValueError(
      f"distill.py: choose at most one mode variant; got {sorted(modes)}."
    )
  config = ml_collections.ConfigDict()
  config.seed = 0  # Root PRNG seed of the student (init, data order).
  common.data_block(config)  # Must select the teacher's training data.
  config.model = "mlp128"  # Student: a key of kd_ntk.models.MODELS.
  config.model_kwargs = ml_collections.ConfigDict()  # Overrides of the preset.
  config.epochs = 8  # Student epochs E (checkpoint kept for each).
  config.batch_size = 128  # Global batch (split over devices).
  config.eval_batch_size = 1000  # Evaluation / prediction batch.
  config.label_smoothing = 0.0  # ε of the α-weighted label term.
  config.optimizer = common.optimizer_block(learning_rate=0.05)
  # Student-only fields of schedule "cosine" (kd_ntk.distill.optimizer): the
  # final rate lr_floor × peak, after a constant phase to decay_start ×
  # training. lr_floor 0: a cosine to 0 (the teacher's form).
  config.optimizer.lr_floor = 0.0
  config.optimizer.decay_start = 0.0
  # Train-set metrics on this fixed class-balanced training subset (0 = the
  # whole training set).
  config.train_eval_size = 2048
  config.distill = distill_block()

  if "lenet5" in variants:
    config.model = "lenet5"
  if "quick" in variants:
    config.model = "mlp16" if "lenet5" not in variants else "lenet5"
    config.epochs = 2
    config.train_subset = 4096  # = teacher.py:quick, whose run it distills.
    config.test_subset = 2000
    config.train_eval_size = 1024
    config.distill.teacher_workdir = "runs/teacher_quick"
    config.distill.early_epoch = 1
    config.distill.anchor_epochs = (1, 2)
  if "tiny" in variants:
    config.model = "mlp"
    config.model_kwargs = ml_collections.ConfigDict({"width": 8})
    config.epochs = 2
    config.batch_size = 32
    config.eval_batch_size = 64
    config.train_subset = 128  # = teacher.py:tiny.
    config.test_subset = 64
    config.train_eval_size = 64
    config.distill.early_epoch = 1
    config.distill.anchor_epochs = (1, 2)

  mode = next(iter(modes), "online")
  d = config.distill
  if mode in fields.MODE_PRESETS:
    d.mode, changes = fields.MODE_PRESETS[mode]
    d.update(changes(d))
  else:
    d.mode = mode
  if mode == "lockstep":
    # The teacher's own config, trained on labels beside the student; its data
    # and epochs must equal the student's. Its workdir is <student
    # workdir>/teacher. Each field follows overrides of the student's field.
    teacher_arg = ",".join(v for v in ("quick", "tiny") if v in variants)
    d.teacher = teacher_config.get_config(teacher_arg)
    for key in fields.DATA_FIELDS + ("epochs",):
      d.teacher[key] = config.get_ref(key)
  return common.apply_overrides(config, overrides)
