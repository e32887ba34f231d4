"""The rule choosing the accuracy students' schedule from validation scores.

Input: validation accuracy of labels-only students, form -> seed -> accuracy,
the same seeds in every form (same initialisation and data order per seed).
With best = the form of highest mean accuracy, a form is *eligible* unless its
paired-by-seed 95% interval of (form − best) lies entirely below 0
(`kd_ntk.science.stats.paired`). Among the eligible forms the choice is the
one with the smallest end jitter j_f, the mean over seeds of the SD of
validation accuracy over a run's last epochs (when given), else the smallest
seed SD s_f = sqrt(Σ_k (a_fk − ā_f)² / (n − 1)). Ties go to the form listed
first. No test-set number and no distillation outcome enters the rule.

Why end jitter, not seed SD (decided after the quick-size comparison, before
the full-size one was seen): two arms of one seed share its initialisation
and data order, so a seed's own level (e.g. one seed at 69–72% validation
accuracy under every form) cancels in their paired difference, while the
noise of where training stops does not. The seed SD is dominated by the
first; the end jitter measures the second.
"""

import numpy as np

from kd_ntk.science import stats

RULE = (
  "smallest end jitter (else seed SD) of validation accuracy among the forms "
  "whose paired interval against the best form's mean is not entirely below 0"
)


def choose(
  accuracy: dict[str, dict[int, float]],
  baseline: str = "constant",
  jitter: dict[str, dict[int, float]] | None = None,
) -> tuple[str, list[dict]]:
  """(chosen form, JSON-ready lines: one per form and per paired comparison).

  Args:
    accuracy: form -> seed -> validation accuracy (>= 2 common seeds).
    baseline: the form every other is also compared with (reported only).
    jitter: form -> seed -> SD of validation accuracy over the run's last
      epochs; None ranks eligible forms by seed SD instead.
  """
  forms = list(accuracy)
  seeds = set.intersection(*(set(v) for v in accuracy.values()))
  if not forms or len(seeds) < 2:
    raise ValueError(
      f"choose needs >= 1 form and >= 2 seeds common to all forms; got "
      f"{forms} with common seeds {sorted(seeds)}."
    )
  acc = {f: {s: accuracy[f][s] for s in sorted(seeds)} for f in forms}
  mean = {f: float(np.mean(list(acc[f].values()))) for f in forms}
  sd = {f: float(np.std(list(acc[f].values()), ddof=1)) for f in forms}
  best = max(forms, key=lambda f: (mean[f], -forms.index(f)))
  end = {
    f: float(np.mean([jitter[f][s] for s in seeds])) if jitter else sd[f]
    for f in forms
  }
  lines = [
    {
      "what": "form",
      "form": f,
      "n": len(seeds),
      "mean": mean[f],
      "seed_sd": sd[f],
    }
    | ({"end_jitter": end[f]} if jitter else {})
    for f in forms
  ]
  eligible = []
  for f in forms:
    worse = False
    for ref in dict.fromkeys((baseline, best)):
      if ref in acc and ref != f:
        c = stats.paired(f"{f} − {ref}", acc[f], acc[ref])
        keep = ("estimate", "low", "high", "sd", "mde", "outcome")
        lines.append(
          {"what": "paired", "a": f, "b": ref}
          | {k: c.as_dict()[k] for k in keep}
        )
        worse |= ref == best and c.outcome == stats.CONTRADICTED
    if not worse:
      eligible.append(f)
  choice = min(eligible, key=lambda f: (end[f], sd[f], forms.index(f)))
  lines.append(
    {
      "what": "choice",
      "form": choice,
      "best_mean": best,
      "eligible": eligible,
      "rule": RULE,
    }
  )
  return choice, lines
