"""`advise(...)`: every (checkpoint, τ) pair of a teacher scored for a student.

  from kd_ntk.advisor import advise
  advice = advise("runs/teacher_quick", "mlp16", epochs=(0, 1, 2),
                  temperatures=(1.0, 4.0), n=1024, n_validation=1024)
  print(advice.recommended.epoch, advice.recommended.temperature)

Work, in order: checks of the teacher, candidates, student and data (one-line
errors, before anything is computed); the teacher's logits on the kernel subset
and the validation split for each candidate checkpoint; the student's NTK at
initialisation on [X; V], ONCE, and its one Cholesky factorisation; the
student's projected per-example Jacobians, ONCE; then per pair only small
dense algebra (a triangular solve of all pairs' targets together, the GRACE
eigendecomposition in d dimensions). Scores and their equations:
`kd_ntk.advisor.scores`, `kd_ntk.advisor.grace`; the ranking:
`kd_ntk.advisor.decision`.
"""

import time
from collections.abc import Sequence

import jax
import numpy as np

from kd_ntk import complexity
from kd_ntk.advisor import decision as decision_lib
from kd_ntk.advisor import grace, inputs, scores
from kd_ntk.advisor.kernel import DEFAULT_RIDGE, StudentKernel
from kd_ntk.advisor.records import Advice, CandidateScores
from kd_ntk.advisor.student import resolve_student

DEFAULT_TEMPERATURES = (1.0, 2.0, 4.0, 8.0)


def _logits_chunked(f, params, x, batch: int = 512) -> np.ndarray:
  apply = jax.jit(f)
  return np.concatenate(
    [
      np.asarray(apply(params, x[i : i + batch]))
      for i in range(0, len(x), batch)
    ]
  ).astype(np.float64)


def advise(
  teacher_workdir: str,
  student,
  *,
  student_params=None,
  student_kwargs: dict | None = None,
  student_seed: int = 0,
  epochs: Sequence[int] | None = None,
  temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
  train=None,
  validation=None,
  n: int = 1024,
  n_validation: int = 1024,
  data_seed: int = 0,
  ridge: float = DEFAULT_RIDGE,
  gamma: float = scores.DEFAULT_GAMMA,
  delta: float = scores.DEFAULT_DELTA,
  grace_dim: int = grace.DEFAULT_DIM,
  grace_shrinkage: float = grace.DEFAULT_SHRINKAGE,
  seed: int = 0,
  decision: str = decision_lib.DEFAULT_DECISION,
  log=None,
) -> Advice:
  """Scores and ranks every (checkpoint, τ) pair of a teacher for a student.

  Args:
    teacher_workdir: a run of experiments/train_teacher.py (every epoch's
      checkpoint).
    student: a preset name (kd_ntk.models.MODELS, built for the teacher's
      classes) or a function f(params, x) -> logits.
    student_params: θ_0 of a student function (required for one).
    student_kwargs: overrides of a preset (e.g. {"width": 8}).
    student_seed: initialisation seed of a preset.
    epochs: candidate checkpoints (None: every saved one).
    temperatures: candidate τ values.
    train: (images, labels) of the kernel subset X; None draws n class-balanced
      examples from the teacher's training data.
    validation: (images, labels) of V; None carves n_validation examples from
      the teacher's training pool, disjoint from its training subset.
    n, n_validation, data_seed: sizes and seed of those defaults.
    ridge: relative ridge λ/(tr K/n) of the one factorisation.
    gamma, delta: margin γ (in probability units) and confidence δ.
    grace_dim, grace_shrinkage: d of the GRACE projection and its shrinkage ν.
    seed: seed of the GRACE projection and split.
    decision: the score column that ranks (kd_ntk.advisor.decision).
    log: optional callable taking one progress line.

  Returns:
    An `Advice` (ranked `CandidateScores`, the recommendation, stage times).

  Raises:
    FileNotFoundError / ValueError (one line, before any work) for a missing
    teacher, a teacher without checkpoints, an empty or unsaved candidate list,
    a student of the wrong output size, or malformed data.
  """
  say = log or (lambda line: None)
  decision_lib.check_decision(decision)
  teacher = inputs.check_teacher(teacher_workdir)
  candidates = inputs.check_candidates(teacher, epochs, temperatures)
  net = resolve_student(
    student,
    num_classes=teacher.num_classes,
    input_shape=teacher.input_shape,
    params=student_params,
    kwargs=student_kwargs,
    seed=student_seed,
  )
  inputs.check_split("train", train, teacher, 4)
  inputs.check_split("validation", validation, teacher, 0)
  seconds = {}
  start = time.perf_counter()
  if train is None or validation is None:
    default_train, default_validation = inputs.teacher_data(
      teacher, n=n, n_validation=n_validation, seed=data_seed
    )
    train = train if train is not None else default_train
    validation = validation if validation is not None else default_validation
  (x, y), (x_v, y_v) = (
    (np.asarray(a), np.asarray(b)) for a, b in (train, validation)
  )
  seconds["data"] = time.perf_counter() - start

  start = time.perf_counter()
  epochs_used = sorted({c.epoch for c in candidates})
  logits = inputs.teacher_logits(teacher, epochs_used, x, x_v)
  seconds["teacher_logits"] = time.perf_counter() - start
  say(
    f"[advise] teacher logits of {len(epochs_used)} checkpoints: {seconds['teacher_logits']:.1f}s"
  )

  start = time.perf_counter()
  kernel = StudentKernel.compute(net.f, net.params, x, x_v, ridge=ridge)
  seconds["ntk"] = time.perf_counter() - start
  say(
    f"[advise] student NTK on {len(x)}+{len(x_v)} examples: {seconds['ntk']:.1f}s"
  )

  start = time.perf_counter()
  features = grace.projected_jacobians(
    net.f, net.params, x, dim=grace_dim, seed=seed
  )
  student_logits = _logits_chunked(net.f, net.params, x)
  seconds["grace_features"] = time.perf_counter() - start

  start = time.perf_counter()
  targets = [
    complexity.teacher_probabilities(logits[c.epoch][0], c.temperature)
    for c in candidates
  ]
  # All pairs at once: one triangular solve and two products for every target.
  alpha_all = kernel.solve(np.concatenate(targets, axis=1))
  alphas = np.split(alpha_all, len(targets), axis=1)
  fits = np.split(kernel.predict_train(alpha_all), len(targets), axis=1)
  predictions = np.split(
    kernel.predict_validation(alpha_all), len(targets), axis=1
  )
  features = np.asarray(features, np.float64)
  last = max(teacher.epochs)
  rows = []
  for c, y_c, alpha, fit, prediction in zip(
    candidates, targets, alphas, fits, predictions
  ):
    row = scores.complexity_scores(kernel, y_c, alpha)
    row.update(
      scores.bound_scores(
        kernel,
        fit,
        y,
        logits[c.epoch][0],
        sc=row["sc"],
        gamma=gamma,
        delta=delta,
      )
    )
    row.update(scores.linearised_student_scores(prediction, y_v, gamma=gamma))
    row.update(scores.baseline_scores(logits[c.epoch][1], y_v, y_c, y))
    grads = grace.gradients(features, student_logits, y_c, c.temperature)
    row["grace"] = grace.grace_score(
      grads, shrinkage=grace_shrinkage, seed=seed
    )
    rows.append(
      CandidateScores(
        epoch=c.epoch, temperature=c.temperature, is_last=c.epoch == last, **row
      )
    )
  order = decision_lib.rank(rows, decision)
  ranked = tuple(
    CandidateScores(**{**rows[i].as_dict(), "rank": r + 1})
    for r, i in enumerate(order)
  )
  seconds["scores"] = time.perf_counter() - start
  return Advice(
    scores=ranked,
    recommended=ranked[0],
    decision=decision,
    student=net.name,
    n_train=len(x),
    n_validation=len(x_v),
    seconds={k: round(v, 3) for k, v in seconds.items()},
  )
