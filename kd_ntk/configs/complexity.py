"""Supervision-complexity analysis of a teacher's trajectory under a student's
NTK.

Launch:
  python experiments/supervision_complexity.py \
      --config=kd_ntk/configs/complexity.py:teacher_workdir=runs/teacher_cnn \
      --workdir=runs/complexity
  # every kernel side by side (agreement between kernels, kernel_agreement.md):
  python experiments/supervision_complexity.py \
      --config="kd_ntk/configs/complexity.py:quick,teacher_workdir=runs/teacher_cnn,student_model=mlp,kernel=(empirical,monte_carlo,infinite,nngp)" \
      --workdir=runs/complexity_kernels
  # the student's NTK along its own training (claim C3):
  python experiments/supervision_complexity.py \
      --config=kd_ntk/configs/complexity.py:teacher_workdir=runs/teacher_cnn,student_workdir=runs/student \
      --workdir=runs/complexity_student

Variants: quick (n=512, few checkpoints), tiny (unit tests).

A workdir holds one config: its config.json is written first and a rerun with
another config is refused (same config: computed again, same numbers). It
writes complexity.csv (ASC, SC, norm-matched ASC, ‖Y‖_F, ridge diagnostics per
kernel, subset, student epoch and target), asc_vs_teacher_epoch.png,
verdicts.json, report.md (the table with 95% intervals over subsets, the
verdicts and the list of files), and for student runs bound.csv and
asc_vs_student_epoch.png; with several kernels kernel_agreement.json/.md.

Kernels (`kernel`, one name or a tuple; see kd_ntk.ntk.kernel_choice):
empirical (the student's own NTK), empirical_nt (neural-tangents' empirical
NTK), monte_carlo (mean NTK over `mc_samples` initialisations), infinite and
nngp (exact kernels of the student's stax twin; presets with a twin:
kd_ntk.ntk.twins.twin_presets()).
"""

import ml_collections

from kd_ntk.configs import common

VARIANTS = {"quick", "tiny"}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  variants, overrides = common.parse_arg(arg)
  common.check_variants(variants, VARIANTS, "complexity.py")
  config = ml_collections.ConfigDict()
  # Required: a run of experiments/train_teacher.py.
  config.teacher_workdir = ""
  # Kernel(s) scoring the targets: a name or a tuple of names, e.g.
  # "empirical" or ("empirical", "monte_carlo", "infinite"); "(a,b)" also works.
  config.kernel = ml_collections.FieldReference("empirical", field_type=object)
  config.student_workdir = ""  # Optional student run: NTK at its checkpoints.
  # Student when no student_workdir is given: a preset of kd_ntk.models.MODELS
  # or your own flax module as "module:attribute" / "path/to/file.py:attribute"
  # (a Module class, instance or factory; see kd_ntk/models/user_models.py).
  config.student_model = "lenet5"
  config.student_model_kwargs = ml_collections.ConfigDict()  # Preset overrides.
  config.student_seed = 0  # Init seed of that student (NTK at init).
  # Student checkpoints whose NTK is used; () = all.
  config.student_epochs = (0,)
  config.teacher_epochs = ()  # Teacher checkpoints scored; () = all.
  config.temperatures = (1.0, 2.0, 4.0, 8.0)  # τ of softmax(z_T/τ).
  config.centered = False  # Subtract 1/C from teacher probabilities.
  config.num_examples = 2048  # Class-balanced NTK subset size n.
  # NTK subsets (pairwise disjoint; refused when the data runs out).
  config.num_subsets = 3
  config.subset_seed = 0  # First member of the chain of disjoint subsets.
  config.num_random_draws = 3  # Random-label draws per subset.
  config.random_label_seed = 0  # Draw d on subset s: seed + 1000·s + d.
  config.ridge = 1e-6  # Relative ridge: λ = ridge · tr(K)/n.
  # Ridges reported for sensitivity.
  config.ridge_path = (1e-8, 1e-6, 1e-4, 1e-2)
  config.solver = "cholesky"  # cholesky (fast) | eigh (robust).
  config.ntk_method = "auto"  # auto | jacobian | structured | ntvp.
  config.ntk_block_size = 0  # 0 = chosen from memory budgets.
  config.ntk_float64 = True  # Accumulate the Gram matrix in float64.
  config.mc_samples = 8  # Initialisations averaged by "monte_carlo".
  config.mc_seed = 0  # Seed of those initialisations.
  config.twin_parameterization = "standard"  # standard (the presets') | ntk.
  config.twin_batch_size = 0  # Block of the exact kernels; 0 = automatic.
  config.bound_gamma = 1.0  # Margin γ of the bound terms.
  config.bound_delta = 0.05  # Confidence δ of the bound.
  config.eval_batch_size = 512  # Batch for teacher/student predictions.
  if "quick" in variants:
    config.num_examples = 512
    config.temperatures = (1.0, 4.0)
  if "tiny" in variants:
    config.num_examples = 32
    config.temperatures = (1.0, 4.0)
    config.ntk_float64 = False
    config.eval_batch_size = 32
    config.mc_samples = 2
  return common.apply_overrides(config, overrides)
