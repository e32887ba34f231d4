"""`score_teacher`: the supervision complexity of a teacher's targets for a
student.

For each NTK subset S (n examples) the student's kernel K = K_S (the trace
empirical NTK of `f` at `params`, summed over logits, as in Harutyunyan et
al., ICLR 2023) scores every target matrix Y (labels, random labels, softmax
of each checkpoint's logits at each τ):

    SC = tr(Yᵀ (K + λI)⁻¹ Y),   ASC = (1/n)·sqrt(SC · tr K),
    ASC_nm = ASC · sqrt(n) / ‖Y‖_F          (norm-matched to one-hot labels)

with the ridge diagnostics of `kd_ntk.complexity.supervision_complexity`, and
the mean with a 95% t-interval over subsets (`kd_ntk.scoring.records`).
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kd_ntk import complexity
from kd_ntk.scoring import inputs
from kd_ntk.scoring.records import Score, Scores


def score_gram(
  gram_NxN,
  *,
  labels=None,
  logits: dict | None = None,
  temperatures: Sequence[float] = (1.0,),
  random_label_draws: int = 0,
  num_classes: int,
  subset: int = 0,
  seed: int = 0,
  centered: bool = False,
  ridge: float = 1e-6,
  ridge_path=complexity.DEFAULT_RIDGE_PATH,
  solver: str = "cholesky",
) -> list[Score]:
  """Scores of every target on one subset whose Gram matrix is given.

  Args:
    gram_NxN: the kernel K of the subset (n, n), symmetric PSD.
    labels: integer labels (n,) of the subset, or None (no labels row).
    logits: {checkpoint: logits (n, C)} of the subset (None: none).
    temperatures: τ of softmax(z/τ) for every checkpoint.
    random_label_draws: random-label draws on this subset.
    num_classes: C; subset: its index (seeds the draws with `seed`).
    centered: subtract 1/C from teacher probabilities.
    ridge, ridge_path, solver: of `supervision_complexity`.

  Returns:
    One `Score` per target, labels first, then draws, then (checkpoint, τ).
  """
  n = np.shape(gram_NxN)[0]
  scores = []
  for key, draw, y in inputs.target_matrices(
    labels=labels,
    logits=logits or {},
    temperatures=temperatures,
    random_label_draws=random_label_draws,
    num_classes=num_classes,
    n=n,
    subset=subset,
    seed=seed,
    centered=centered,
  ):
    result = complexity.supervision_complexity(
      y, gram_NxN, ridge=ridge, method=solver, ridge_path=tuple(ridge_path)
    )
    scores.append(
      Score.of(key, subset=subset, draw=draw, targets=y, result=result)
    )
  return scores


def _num_outputs(f, params, x) -> int:
  import jax  # pylint: disable=g-import-not-at-top

  out = jax.eval_shape(f, params, np.asarray(x[:1]))
  if len(out.shape) < 2:
    raise ValueError(
      f"f(params, x) must return logits (B, C); it returned shape {out.shape}."
    )
  return int(np.prod(out.shape[1:]))


def _labels(labels, total: int, num_classes: int):
  if labels is None:
    return None
  labels = np.asarray(labels)
  if (
    labels.shape != (total,)
    or not np.issubdtype(labels.dtype, np.integer)
    or labels.min() < 0
    or labels.max() >= num_classes
  ):
    raise ValueError(
      f"labels must be integers in [0, {num_classes}) of shape ({total},); "
      f"got shape {labels.shape}, dtype {labels.dtype}."
    )
  return labels


def _kernel_fn(kernel, f, params, ntk_kwargs) -> tuple[Callable, str]:
  if callable(kernel):
    return kernel, getattr(kernel, "__name__", "custom")
  if kernel != "empirical":
    raise ValueError(
      f"kernel must be 'empirical' or a function x -> Gram (n, n); got {kernel!r}."
    )
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from kd_ntk.ntk import empirical_ntk  # pylint: disable=g-import-not-at-top

  options = {"dtype": jnp.float64, **(ntk_kwargs or {})}
  return (
    lambda x_sub: empirical_ntk(f, params, x_sub, output="trace", **options),
    "empirical",
  )


def score_teacher(
  f,
  params,
  x,
  *,
  targets: Any = None,
  labels=None,
  temperatures: Sequence[float] = (1.0,),
  subsets: int | Sequence[np.ndarray] = 1,
  num_examples: int | None = None,
  random_label_draws: int = 0,
  checkpoints: Sequence[int] | None = None,
  seed: int = 0,
  centered: bool = False,
  kernel: str | Callable = "empirical",
  ntk_kwargs: dict | None = None,
  ridge: float = 1e-6,
  ridge_path=complexity.DEFAULT_RIDGE_PATH,
  solver: str = "cholesky",
) -> Scores:
  """Supervision complexity of a teacher's targets under a student's NTK.

      K = Σ_c J_c J_cᵀ (student, trace over logits),  SC = tr(Yᵀ(K + λI)⁻¹Y),
      ASC = (1/n)·sqrt(SC·tr K),  ASC_nm = ASC·sqrt(n)/‖Y‖_F,  λ = ridge·tr K/n

  Args:
    f: the student, `f(params, x) -> logits (B, C)`, or a flax module (then
      `params` are its variables, e.g. what `module.init` returned; a module
      with or without a `train` argument, see `kd_ntk.models.adapter`).
    params: its parameters (or variables).
    x: inputs (N, ...) as the student sees them; for a teacher workdir, also
      as the teacher saw them (`kd_ntk.load_teacher(w).normalize(images)`).
    targets: what to score besides labels: teacher logits (N, C),
      per-checkpoint logits (K, N, C) or {checkpoint: (N, C)}, a teacher
      workdir (path) or `kd_ntk.teachers.Teacher` (its checkpoints' logits
      on x), or integer labels (N,) (same as `labels=`).
    labels: integer labels (N,): scored as one-hot targets, and the NTK
      subsets are class-balanced.
    temperatures: τ of softmax(z/τ) for each checkpoint.
    subsets: number of NTK subsets (disjoint while the inputs last), or a list
      of index arrays into x.
    num_examples: n per subset (default: N // subsets, at most
      `DEFAULT_MAX_EXAMPLES` = 1024; the kernel is n × n per subset).
    random_label_draws: random-label targets per subset.
    checkpoints: teacher epochs to score for a workdir (None: all).
    seed: seeds the subsets (subset s: seed + s) and the random labels.
    centered: subtract 1/C from teacher probabilities.
    kernel: "empirical" (`kd_ntk.ntk.empirical_ntk`, float64) or any function
      `x_subset -> Gram (n, n)`.
    ntk_kwargs: more keyword arguments of `empirical_ntk` (method, ...).
    ridge, ridge_path, solver: of `kd_ntk.complexity.supervision_complexity`.

  Returns:
    `Scores`: `.summaries` (mean and 95% interval over subsets per target),
    `.scores` (per subset), `.to_csv(path)`, `.to_markdown()`.

  Raises:
    ValueError: mismatched shapes, bad temperatures or subsets, a target
      whose class count differs from the student's; before any kernel.
  """
  # pylint: disable-next=g-import-not-at-top
  from kd_ntk.models.adapter import as_function

  f, params = as_function(f, params)
  x = np.asarray(x)
  total = len(x)
  temperatures = inputs.check_temperatures(temperatures)
  if int(random_label_draws) != random_label_draws or random_label_draws < 0:
    raise ValueError(
      f"random_label_draws must be an integer >= 0; got {random_label_draws!r}."
    )
  num_classes = _num_outputs(f, params, x)
  teacher, logits = None, {}
  if targets is not None and inputs.is_teacher_source(targets):
    # pylint: disable-next=g-import-not-at-top
    from kd_ntk.teachers import Teacher, load_teacher

    teacher = targets if isinstance(targets, Teacher) else load_teacher(targets)
    checkpoints = list(teacher.epochs if checkpoints is None else checkpoints)
    for epoch in checkpoints:
      teacher._epoch(epoch)  # pylint: disable=protected-access
    if teacher.num_classes != num_classes:
      raise ValueError(
        f"the teacher has {teacher.num_classes} classes, the student "
        f"{num_classes} outputs; they must match."
      )
  elif targets is not None and np.ndim(targets) == 1:
    labels = targets if labels is None else labels
  elif targets is not None:
    logits = inputs.logits_by_checkpoint(targets, total)
    widths = {z.shape[1] for z in logits.values()}
    if widths != {num_classes}:
      raise ValueError(
        f"target logits have {sorted(widths)} classes, the student "
        f"{num_classes} outputs; they must match."
      )
  labels = _labels(labels, total, num_classes)
  if labels is None and not logits and teacher is None:
    raise ValueError(
      "nothing to score: pass labels=, or targets= (logits or a teacher)."
    )
  index_sets = inputs.resolve_subsets(
    subsets,
    num_examples,
    total=total,
    labels=labels,
    num_classes=num_classes,
    seed=seed,
  )
  gram_of, kernel_name = _kernel_fn(kernel, f, params, ntk_kwargs)
  if teacher is not None:
    union = np.unique(np.concatenate(index_sets))
    for epoch, z in teacher.logits(x[union], checkpoints).items():
      logits[epoch] = np.zeros((total, z.shape[1]), z.dtype)
      logits[epoch][union] = z  # Only the rows of some subset are read.
  scores = []
  for s, idx in enumerate(index_sets):
    sub_logits = {k: z[idx] for k, z in logits.items()}
    scores += score_gram(
      np.asarray(gram_of(x[idx]), np.float64),
      labels=None if labels is None else labels[idx],
      logits=sub_logits,
      temperatures=temperatures,
      random_label_draws=int(random_label_draws),
      num_classes=num_classes,
      subset=s,
      seed=seed,
      centered=centered,
      ridge=ridge,
      ridge_path=ridge_path,
      solver=solver,
    )
  return Scores.of(scores, kernel_name)
