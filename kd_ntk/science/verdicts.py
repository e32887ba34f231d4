"""The verdict record every claim rule returns, and its plain-text form."""

from collections.abc import Sequence

from kd_ntk.science import stats


def verdict(
  claim: str,
  prediction: str,
  *,
  rule: str,
  outcome: str,
  comparisons: Sequence[stats.Comparison],
  note: str = "",
  numbers: dict = None,
) -> dict:
  """A claim's verdict.

  Args:
    claim: "C1".."C8" (sub-claims "C2n", "C5b", ...).
    prediction: the paper's prediction, in words.
    rule: how `outcome` follows from the comparisons' outcomes (printed in the
      report next to the claim).
    outcome: one of `stats.OUTCOMES`.
    comparisons: the paired comparisons behind it (the first is the headline).
    note: anything the reader must know (ridge-dominated values, selections).
    numbers: extra per-arm means for the reader (never used in the rule).
  """
  if outcome not in stats.OUTCOMES:
    raise ValueError(
      f"outcome must be one of {stats.OUTCOMES}; got {outcome!r}."
    )
  return {
    "claim": claim,
    "prediction": prediction,
    "rule": rule,
    "outcome": outcome,
    "comparisons": [c.as_dict() for c in comparisons],
    "note": note,
    "numbers": numbers or {},
  }


def not_testable(claim: str, prediction: str, rule: str, reason: str) -> dict:
  """The verdict of a claim its rows cannot test (shared by C3 and C5–C8): one
  NOT_TESTABLE comparison named by the prediction, the reason as its note."""
  return verdict(
    claim,
    prediction,
    rule=rule,
    outcome=stats.NOT_TESTABLE,
    comparisons=[stats.not_testable(prediction, reason)],
    note=reason,
  )


def format_verdict(v: dict) -> str:
  """One line: claim, outcome, then each comparison's estimate, interval and
  minimum detectable effect (in the comparison's own units)."""
  parts = []
  for c in v["comparisons"]:
    comp = stats.Comparison(**c)
    detectable = (
      f", detectable {comp.mde_text()} at 80% power"
      if comp.mde == comp.mde
      else ""
    )
    parts.append(
      f"{comp.what}: {comp.interval_text()}{detectable} ({comp.outcome}"
      + (f": {comp.reason}" if comp.reason else "")
      + ")"
    )
  text = (
    f"{v['claim']} {v['outcome'].upper()} — {v['prediction']}. "
    + "; ".join(parts)
  )
  return text + (f" [{v['note']}]" if v["note"] else "")


def summary_counts(verdicts: list[dict]) -> dict[str, int]:
  return {o: sum(v["outcome"] == o for v in verdicts) for o in stats.OUTCOMES}
