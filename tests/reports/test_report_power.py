"""The report's verdict table: the detectable effect beside every interval, and
what a no-detectable-difference rules out, from the verdicts' own numbers."""

from kd_ntk.science import kd_claims, stats
from kd_ntk.reports import report


def _rows(gain_by_seed):
  out = []
  for seed, gain in enumerate(gain_by_seed):
    for mode, acc in (("offline", 0.80), ("online", 0.80 + gain)):
      out.append(
        {
          "task": "main",
          "student_family": "cnn",
          "student_width": 2,
          "mode": mode,
          "temperature": 4.0,
          "alpha": 0.0,
          "seed": seed,
          "test_accuracy": acc,
        }
      )
  return out


def test_table_has_the_detectable_effect_and_the_ruled_out_range():
  rows = _rows([0.004, -0.012, 0.010, -0.003, 0.001])
  c5a = kd_claims.claim_c5(rows)[0]
  comp = stats.Comparison(**c5a["comparisons"][0])
  assert comp.outcome == stats.NO_DIFFERENCE
  table = report.verdict_table([c5a])
  header = table.splitlines()[0]
  assert "detectable effect (80% power)" in header
  assert f"±{100 * comp.mde:.2f}" in table
  bound = 100 * max(abs(comp.low), abs(comp.high))
  assert f"no difference larger than {bound:.2f} points" in table


def test_not_testable_rows_show_na():
  c5a = kd_claims.claim_c5(_rows([0.01]))[0]
  line = report.verdict_table([c5a]).splitlines()[2]
  assert "| n/a |" in line and "not testable" in line


def test_power_table_plans_seeds_from_the_paired_sd():
  from kd_ntk.science import power
  from kd_ntk.reports import tables

  rows = _rows([0.004, -0.012, 0.010, -0.003, 0.001])
  verdicts = kd_claims.claim_c5(rows)
  table = tables.power_table(verdicts)
  c = verdicts[0]["comparisons"][0]
  sd = 100 * c["sd"]
  cells = [x.strip() for x in table.splitlines()[2].split("|")[1:-1]]
  assert cells[2] == "5" and cells[3] == f"{sd:.2f}"
  assert cells[6] == str(power.seeds_for_half_width(sd, 0.5))
  assert cells[7] == str(power.seeds_for_effect(sd, 1.0))
  assert tables.power_table(kd_claims.claim_c5(_rows([0.01]))) == ""


def test_format_verdict_names_the_detectable_effect():
  from kd_ntk.science.verdicts import format_verdict

  c5a = kd_claims.claim_c5(_rows([0.004, -0.012, 0.010, -0.003, 0.001]))[0]
  mde = c5a["comparisons"][0]["mde"]
  assert f"detectable ±{mde:.3f} at 80% power" in format_verdict(c5a)
  untestable = kd_claims.claim_c5(_rows([0.01]))[0]
  assert "detectable" not in format_verdict(untestable)
