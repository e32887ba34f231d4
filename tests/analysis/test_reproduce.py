"""The whole reproduction pipeline on the tiny configuration, its report and resume."""

import json
import os

import pytest

from kd_ntk.analysis import reproduce, stats
from kd_ntk.analysis.layout import Layout
from kd_ntk.configs import reproduce as reproduce_config


def test_tiny_reproduction_writes_per_seed_rows_verdict_table_and_resumes(
  tmp_path,
):
  config = reproduce_config.get_config("tiny")
  workdir = str(tmp_path)
  summary = reproduce.run(config, workdir)
  claims = [v["claim"] for v in summary["verdicts"]]
  assert claims == [
    "C1",
    "C2",
    "C2n",
    "C3",
    "C4",
    "C4n",
    "C5a",
    "C5b",
    "C6",
    "C7",
    "C8",
  ]
  assert all(v["outcome"] in stats.OUTCOMES for v in summary["verdicts"])
  main = [r for r in summary["rows"] if r["task"] == "main"]
  assert len(main) == len(config.methods) * len(config.seeds)
  assert all(
    0.0 <= r["test_accuracy"] <= 1.0 for r in main if not r["diverged"]
  )
  kd = [r for r in main if r["mode"] != "none" and not r["diverged"]]
  assert all(0.0 <= r["train_margin_loss_final"] <= 1.0 for r in kd)
  # Every per-seed number is in results.json; subsets carry their column.
  saved = json.load(open(Layout(workdir).results))
  assert len(saved["rows"]) == len(summary["rows"])
  assert {r["subset"] for r in saved["complexity_rows"]} == {0, 1}
  assert all(r["target_norm"] > 0 for r in saved["complexity_rows"])
  assert saved["early_selection"]["epoch"] in config.early.candidates
  # One subset-paired C1 comparison has two pairs: an interval, not "not testable".
  c1 = summary["verdicts"][0]["comparisons"][0]
  assert c1["n"] == 2
  text = open(summary["report"]).read()
  assert text.index("## Verdicts") < text.index("## Regime")
  assert (
    "| claim | what was compared | estimate [95% interval] | outcome | verdict |"
    in text
  )
  assert "Rule:" in text and "not testable in this regime" in text
  assert os.path.exists(
    os.path.join(workdir, "figures", "asc_vs_teacher_epoch.png")
  )
  # A rerun resumes: every run is found finished, nothing is retrained.
  run_dir = os.path.join(workdir, "students", "cnn-w2", "labels", "seed0")
  stamp = os.path.getmtime(os.path.join(run_dir, "metrics.jsonl"))
  again = reproduce.run(config, workdir, figures=False)
  assert again["rows"] == summary["rows"]
  assert os.path.getmtime(os.path.join(run_dir, "metrics.jsonl")) == stamp


def test_bad_records_fail_before_any_work(tmp_path):
  config = reproduce_config.get_config("tiny")
  config.methods["broken"] = {"mode": "offline_t4"}
  with pytest.raises(ValueError, match="mode must be one of"):
    reproduce.run(config, str(tmp_path / "w"))
  config = reproduce_config.get_config("tiny,early.candidates=(5,)")
  with pytest.raises(ValueError, match="early.candidates"):
    reproduce.run(config, str(tmp_path / "w"))
  assert not os.path.exists(tmp_path / "w")


def test_kernel_student_is_the_configured_width_of_the_claims_family():
  config = reproduce_config.get_config("")
  recs = reproduce.validate(config)
  chosen = reproduce.kernel_student(recs["students"], config)
  assert (chosen.family, chosen.width) == ("cnn", 8)
  assert reproduce.analysis_student(recs["students"], config).width == 2
  config.complexity.student_width = 0
  assert reproduce.kernel_student(recs["students"], config).width == 2
  config.complexity.student_width = 5
  with pytest.raises(ValueError, match=r"has widths \[2, 4, 8\]"):
    reproduce.validate(config)
