"""Supervision-complexity analysis of a teacher's trajectory under a student's NTK.

Launch:
  python experiments/supervision_complexity.py \
      --config=kd_ntk/configs/complexity.py:teacher_workdir=runs/teacher_cnn \
      --workdir=runs/complexity
  # the student's NTK along its own training (claim C3):
  python experiments/supervision_complexity.py \
      --config=kd_ntk/configs/complexity.py:teacher_workdir=runs/teacher_cnn,student_workdir=runs/student \
      --workdir=runs/complexity_student

Variants: quick (n=512, few checkpoints), tiny (unit tests).
"""

import ml_collections

from kd_ntk.configs import common

VARIANTS = {"quick", "tiny"}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  variants, overrides = common.parse_arg(arg)
  common.check_variants(variants, VARIANTS, "complexity.py")
  config = ml_collections.ConfigDict()
  config.teacher_workdir = ""         # Required: a run of experiments/train_teacher.py.
  config.student_workdir = ""         # Optional student run: NTK at its checkpoints.
  config.student_model = "lenet5"     # Student preset when no student_workdir is given.
  config.student_model_kwargs = ml_collections.ConfigDict()  # Preset overrides.
  config.student_seed = 0             # Init seed of that student (NTK at init).
  config.student_epochs = (0,)        # Student checkpoints whose NTK is used; () = all.
  config.teacher_epochs = ()          # Teacher checkpoints scored; () = all.
  config.temperatures = (1.0, 2.0, 4.0, 8.0)  # τ of softmax(z_T/τ).
  config.centered = False             # Subtract 1/C from teacher probabilities.
  config.num_examples = 2048          # Class-balanced NTK subset size n.
  config.subset_seed = 0              # Seed of the subset choice.
  config.random_label_seed = 0        # Seed of the random-label targets.
  config.ridge = 1e-6                 # Relative ridge: λ = ridge · tr(K)/n.
  config.ridge_path = (1e-8, 1e-6, 1e-4, 1e-2)  # Ridges reported for sensitivity.
  config.solver = "cholesky"          # cholesky (fast) | eigh (robust).
  config.ntk_method = "auto"          # auto | jacobian | structured | ntvp.
  config.ntk_block_size = 0           # 0 = chosen from memory budgets.
  config.ntk_float64 = True           # Accumulate the Gram matrix in float64.
  config.bound_gamma = 1.0            # Margin γ of the bound terms.
  config.bound_delta = 0.05           # Confidence δ of the bound.
  config.eval_batch_size = 512        # Batch for teacher/student predictions.
  if "quick" in variants:
    config.num_examples = 512
    config.temperatures = (1.0, 4.0)
  if "tiny" in variants:
    config.num_examples = 32
    config.temperatures = (1.0, 4.0)
    config.ntk_float64 = False
    config.eval_batch_size = 32
  return common.apply_overrides(config, overrides)
