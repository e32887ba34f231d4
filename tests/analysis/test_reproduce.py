"""The whole reproduction pipeline on the tiny configuration, and its report."""

import os

from kd_ntk.analysis import reproduce
from kd_ntk.configs import reproduce as reproduce_config
from kd_ntk.reports import report


def test_tiny_reproduction_writes_report_with_every_claim(tmp_path):
  config = reproduce_config.get_config("tiny")
  workdir = str(tmp_path)
  summary = reproduce.run(config, workdir)
  assert [v["claim"] for v in summary["verdicts"]] == [f"C{i}" for i in range(1, 9)]
  for student in config.students:
    for method in config.methods:
      rows = summary["results"][student][method]
      assert len(rows) == len(config.seeds)
      assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in rows)
  path = report.write_report(summary, config, workdir)
  text = open(path).read()
  assert "| mlp16 |" in text and "C8" in text
  assert os.path.exists(os.path.join(workdir, "asc_vs_student_epoch.png"))
  # A rerun resumes: every run is found finished, nothing is retrained.
  stamp = os.path.getmtime(os.path.join(workdir, "students", "mlp16", "no_kd", "seed0",
                                        "metrics.jsonl"))
  again = reproduce.run(config, workdir)
  assert again["results"] == summary["results"]
  assert os.path.getmtime(os.path.join(workdir, "students", "mlp16", "no_kd", "seed0",
                                       "metrics.jsonl")) == stamp
