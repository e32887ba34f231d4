"""Checks on a student's epoch row: stop a diverged run, warn on a collapse."""

from kd_ntk.train import health as train_health
from kd_ntk.train.runner import Diverged


def check_finite(row: dict[str, float], epoch: int, config) -> None:
  """Stops a diverged run: never reports the chance-level result of NaN weights.

  Raises:
    Diverged (a FloatingPointError) carrying the record the runner writes to
    workdir/diverged.json (epoch, losses, hint) for report tooling.
  """
  losses = ("train_loss", "test_loss")
  non_finite = train_health.non_finite_metrics(row)
  bad = {k: row[k] for k in losses if k in non_finite}
  if not bad:
    return
  d = config.distill
  hint = "lower optimizer.learning_rate" + (
    ", or set distill.lr_scale=inverse_tau_squared (the τ² factor multiplies the "
    f"KD gradient scale at τ={d.temperature})"
    if d.mode != "none" and d.tau_squared and d.lr_scale == "none"
    else ""
  )
  raise Diverged(
    f"Student diverged at epoch {epoch} ({bad}); its metrics are not "
    f"reported. Fix: {hint}.",
    {"epoch": epoch, **{k: str(v) for k, v in bad.items()}, "hint": hint},
  )


def warn_if_chance_level(
  row: dict[str, float], num_classes: int, epoch: int, config
) -> bool:
  """`train.health.warn_if_chance_level` for a student, with the KD hint.

  A run can collapse without a non-finite loss (e.g. τ=4 with the τ² factor and
  a learning rate made for τ=1: every prediction falls on one class). That is
  not proof of divergence, so it warns instead of stopping.
  """
  return train_health.warn_if_chance_level(
    row,
    num_classes,
    epoch,
    label="student",
    hint="Lower optimizer.learning_rate or set "
    "distill.lr_scale=inverse_tau_squared "
    f"(τ={config.distill.temperature}).",
  )
