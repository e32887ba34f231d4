"""Verdicts of claims C5–C8 from per-seed student result rows, with intervals.

A result row is one finished (or diverged) student run, carrying the record
fields of `kd_ntk.grid.records`: task ("main" | "binary"), student_family,
student_width, mode, temperature, alpha, seed, and its final metrics
(test_accuracy, train_fidelity_final, train_margin_loss_final, ...; a diverged
run has diverged=True and no metrics). Rules select rows by these fields only:
never by display names, list positions or name suffixes. Every comparison is
paired by seed (same seed: same initialisation and data order in both arms).
"""

from collections.abc import Sequence

from kd_ntk.science import stats
from kd_ntk.science.verdicts import not_testable, verdict

ACCURACY = "test_accuracy"
FIDELITY = "train_fidelity_final"
MARGIN_LOSS = "train_margin_loss_final"


def by_seed(rows: list[dict], metric: str, **fields) -> dict[int, float | None]:
  """seed -> metric of the rows matching every field (None: a diverged run)."""
  out = {}
  for r in rows:
    if all(r.get(k) == v for k, v in fields.items()):
      out[int(r["seed"])] = None if r.get("diverged") else r.get(metric)
  return out


def _families(rows, task="main") -> dict[str, list[int]]:
  fams: dict[str, set] = {}
  for r in rows:
    if r.get("task") == task:
      fams.setdefault(r["student_family"], set()).add(int(r["student_width"]))
  return {f: sorted(w) for f, w in sorted(fams.items())}


def _taus(rows, mode, task="main") -> list[float]:
  return sorted(
    {
      r["temperature"]
      for r in rows
      if r.get("task") == task and r.get("mode") == mode
    }
  )


def _smallest(rows, family: str | None, task="main"):
  fams = _families(rows, task)
  if not fams:
    return None, None
  family = (
    family
    if family in fams
    else sorted(fams, key=lambda f: (-len(fams[f]), f))[0]
  )
  return family, fams[family][0]


def _online_and_offline(rows, metric, *, family, width, tau, alpha):
  """{seed: metric} of the online and of the offline runs of one student/τ/α."""
  common = dict(
    task="main",
    student_family=family,
    student_width=width,
    temperature=tau,
    alpha=alpha,
  )
  return (
    by_seed(rows, metric, mode="online", **common),
    by_seed(rows, metric, mode="offline", **common),
  )


def _online_minus_offline(
  rows, metric, *, family, width, tau, alpha, sign=1.0, what=None
):
  on, off = _online_and_offline(
    rows, metric, family=family, width=width, tau=tau, alpha=alpha
  )
  if sign < 0:
    on, off = off, on
  label = what or f"online − offline {metric}"
  return stats.paired(f"{label}, {family} width {width}, τ={tau:g}", on, off)


C5A_RULE = (
  "Paired by seed, the smallest student of the family: online − offline test "
  "accuracy at each τ (same τ, α and epochs). Supported if every τ is supported; "
  "contradicted if any is contradicted; otherwise no detectable difference."
)
C5B_RULE = (
  "Paired by seed: (online − offline)(smallest width) − (online − offline)"
  "(largest width) of one family, at each τ. Supported if every τ is supported; "
  "contradicted if any is contradicted; not testable with one width."
)


def claim_c5(
  rows: list[dict], family: str | None = None, alpha: float = 0.0
) -> list[dict]:
  """C5a: online ≥ offline (smallest student); C5b: gap grows as it shrinks."""
  family, smallest = _smallest(rows, family)
  taus = [t for t in _taus(rows, "online") if t in _taus(rows, "offline")]
  pred_a = "online ≥ offline test accuracy for the smallest student"
  if family is None or not taus:
    reason = "no online/offline pair at a common τ"
    return [
      not_testable("C5a", pred_a, C5A_RULE, reason),
      not_testable(
        "C5b",
        "the online − offline gap grows as the student shrinks",
        C5B_RULE,
        reason,
      ),
    ]
  comps_a = [
    _online_minus_offline(
      rows, ACCURACY, family=family, width=smallest, tau=t, alpha=alpha
    )
    for t in taus
  ]
  widths = _families(rows)[family]
  details = [
    _online_minus_offline(
      rows, ACCURACY, family=family, width=w, tau=t, alpha=alpha
    ).as_dict()
    for w in widths[1:]
    for t in taus
  ]
  c5a = verdict(
    "C5a",
    pred_a + f" ({family} width {smallest})",
    rule=C5A_RULE,
    outcome=stats.combine_all(comps_a),
    comparisons=comps_a,
    numbers={"other_widths": details},
  )
  pred_b = (
    f"the online − offline gap grows as the student shrinks ({family}, widths "
    f"{widths})"
  )
  if len(widths) < 2:
    reason = (
      f"one width of {family}: the trend needs 2 or more (3 in the full run)"
    )
    return [c5a, not_testable("C5b", pred_b, C5B_RULE, reason)]
  comps_b = []
  for tau in taus:
    gaps = {}
    for w in (widths[0], widths[-1]):
      on, off = _online_and_offline(
        rows, ACCURACY, family=family, width=w, tau=tau, alpha=alpha
      )
      gaps[w] = {
        s: on[s] - off[s]
        for s in on
        if s in off and on[s] is not None and off[s] is not None
      }
    comps_b.append(
      stats.paired(
        f"gap(width {widths[0]}) − gap(width {widths[-1]}), τ={tau:g}",
        gaps[widths[0]],
        gaps[widths[-1]],
      )
    )
  return [
    c5a,
    verdict(
      "C5b",
      pred_b,
      rule=C5B_RULE,
      outcome=stats.combine_all(comps_b),
      comparisons=comps_b,
    ),
  ]


C6_RULE = (
  "Paired by seed, the smallest student, same τ: test accuracy of the "
  "early-stopped teacher (checkpoint chosen on the validation split) − that of "
  "the final teacher. Supported / no detectable difference / contradicted by "
  "the interval; not testable when validation chose the final checkpoint."
)


def claim_c6(
  rows: list[dict],
  family: str | None = None,
  *,
  alpha: float = 0.0,
  selected_epoch=None,
  final_epoch=None,
) -> dict:
  """The early-stopped teacher (chosen on validation) can beat the final one."""
  family, smallest = _smallest(rows, family)
  prediction = (
    "for the smallest student, the early-stopped teacher can beat the final one"
  )
  taus = [t for t in _taus(rows, "early") if t in _taus(rows, "offline")]
  if family is None or not taus:
    reason = (
      "no early-stopped runs (mode early) beside offline runs at a common τ"
    )
    return not_testable("C6", prediction, C6_RULE, reason)
  if selected_epoch is not None and selected_epoch == final_epoch:
    reason = f"validation chose the final checkpoint ({final_epoch}): the arms are equal"
    return not_testable("C6", prediction, C6_RULE, reason)
  comps = []
  for tau in taus:
    common = dict(
      task="main",
      student_family=family,
      student_width=smallest,
      temperature=tau,
      alpha=alpha,
    )
    comps.append(
      stats.paired(
        f"early − final teacher test accuracy, {family} width {smallest}, τ={tau:g}",
        by_seed(rows, ACCURACY, mode="early", **common),
        by_seed(rows, ACCURACY, mode="offline", **common),
      )
    )
  note = (
    f"early checkpoint chosen on validation: epoch {selected_epoch}"
    if selected_epoch is not None
    else ""
  )
  return verdict(
    "C6",
    prediction + f" ({family} width {smallest})",
    rule=C6_RULE,
    outcome=stats.combine_all(comps),
    comparisons=comps,
    note=note,
  )


C7_RULE = (
  "Paired by seed, the smallest student, each τ: online − offline train fidelity "
  "(top-1 agreement with the final teacher) and offline − online margin loss "
  "(1/N)Σ1[ρ(x, ŷ_T) ≤ γ] w.r.t. the final teacher's labels ŷ_T. Supported if all "
  "are supported; contradicted if any is contradicted; otherwise no detectable "
  "difference."
)


def claim_c7(
  rows: list[dict],
  family: str | None = None,
  alpha: float = 0.0,
  gamma: float | None = None,
) -> dict:
  """Online: higher train fidelity, lower margin loss w.r.t. the final one."""
  family, smallest = _smallest(rows, family)
  prediction = (
    "online: higher train fidelity and lower margin loss w.r.t. the teacher"
  )
  taus = [t for t in _taus(rows, "online") if t in _taus(rows, "offline")]
  if family is None or not taus:
    reason = "no online/offline pair at a common τ"
    return not_testable("C7", prediction, C7_RULE, reason)
  comps = []
  for tau in taus:
    comps.append(
      _online_minus_offline(
        rows,
        FIDELITY,
        family=family,
        width=smallest,
        tau=tau,
        alpha=alpha,
        what="online − offline train fidelity",
      )
    )
    comps.append(
      _online_minus_offline(
        rows,
        MARGIN_LOSS,
        family=family,
        width=smallest,
        tau=tau,
        alpha=alpha,
        sign=-1.0,
        what="offline − online margin loss"
        + (f" at γ={gamma:g}" if gamma else ""),
      )
    )
  return verdict(
    "C7",
    prediction + f" ({family} width {smallest})",
    rule=C7_RULE,
    outcome=stats.combine_all(comps),
    comparisons=comps,
  )


C8_RULE = (
  "Paired by seed on the two-class task: test accuracy of the pre-specified "
  "distillation method − training on labels alone. Outcome of that interval; "
  "other methods are reported, not used. The arms' learning rates are stated "
  "in the note (lr_scale divides the distillation arm's by τ or τ²)."
)

LR_DIVISOR = {"none": 0, "inverse_tau": 1, "inverse_tau_squared": 2}


def step_size_note(lr_scale: str, temperature) -> str:
  """How the two arms of C8 differ in learning rate, in words.

  The labels arm (mode none) trains at the peak rate η; a distillation arm
  with `lr_scale` "inverse_tau" at η/τ and "inverse_tau_squared" at η/τ²
  (`kd_ntk.distill.optimizer`). Its loss τ²·KL(p_T^τ ‖ p_S^τ) has logit
  gradient τ·(p_S^τ − p_T^τ), not cross-entropy's p_S − y, so equal η is not
  an equal effective step either; the note states the nominal factor.
  """
  if lr_scale not in LR_DIVISOR:
    return (
      "learning rates of the arms not recorded: a distillation arm may train "
      "at η/τ or η/τ² (students_run.lr_scale) against the labels arm's η"
    )
  tau = float(temperature or 1.0)
  power = LR_DIVISOR[lr_scale]
  if power == 0 or tau == 1.0:
    return "both arms at the same peak learning rate η (lr_scale has no effect)"
  factor = tau**power
  return (
    f"the arms differ in step size: labels at peak learning rate η, "
    f"distillation (τ={tau:g}, lr_scale={lr_scale}) at η/{factor:g}; the "
    "difference confounds method with step size"
  )


def claim_c8(
  rows: list[dict],
  primary: dict,
  others: Sequence[dict] = (),
  *,
  lr_scale: str = "",
) -> dict:
  """On a binary task, distillation (the pre-specified method) beats labels
  alone.

  Args:
    lr_scale: the students' `lr_scale` ("" = unknown); the note states how
      the arms' learning rates differ (`step_size_note`).
  """
  prediction = "on a two-class task distillation still helps"
  binary = [r for r in rows if r.get("task") == "binary"]
  base = by_seed(binary, ACCURACY, mode="none")

  def compare(fields):
    kd = by_seed(binary, ACCURACY, **fields)
    desc = ", ".join(f"{k}={v}" for k, v in fields.items())
    return stats.paired(f"({desc}) − labels, test accuracy", kd, base)

  main = compare(primary)
  return verdict(
    "C8",
    prediction,
    rule=C8_RULE,
    outcome=main.outcome,
    comparisons=[main],
    note=step_size_note(lr_scale, primary.get("temperature")),
    numbers={"other_methods": [compare(f).as_dict() for f in others]},
  )


def kd_verdicts(
  rows: list[dict],
  family: str | None = None,
  *,
  alpha: float = 0.0,
  binary_primary: dict | None = None,
  binary_others: Sequence[dict] = (),
  early_selected=None,
  teacher_final_epoch=None,
  gamma=None,
  lr_scale: str = "",
) -> list[dict]:
  """C5a, C5b, C6, C7, C8 from result rows (see the module docstring).

  Args:
    lr_scale: `students_run.lr_scale`, stated in C8's note ("" = unknown).
  """
  out = claim_c5(rows, family, alpha)
  out.append(
    claim_c6(
      rows,
      family,
      alpha=alpha,
      selected_epoch=early_selected,
      final_epoch=teacher_final_epoch,
    )
  )
  out.append(claim_c7(rows, family, alpha, gamma))
  out.append(
    claim_c8(
      rows,
      binary_primary or {"mode": "online"},
      binary_others,
      lr_scale=lr_scale,
    )
  )
  return out
