"""Each launcher in experiments/ runs end to end on the tiny configs, as a user runs it."""

import glob
import json
import os

import pytest

from launch_helpers import run_script


def _ok(result):
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
  return result.stdout


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("launch") / "teacher")
  out = _ok(
    run_script(
      "train_teacher.py",
      "--config=kd_ntk/configs/teacher.py:tiny,epochs=2",
      f"--workdir={workdir}",
    )
  )
  return workdir, out


def test_train_teacher_writes_a_run_and_resumes_it(teacher_run):
  workdir, out = teacher_run
  assert "final epoch 2: test accuracy" in out
  rows = [
    json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))
  ]
  assert [r["epoch"] for r in rows] == [0, 1, 2]
  assert glob.glob(os.path.join(workdir, "events.out.tfevents.*"))
  again = _ok(
    run_script(
      "train_teacher.py",
      "--config=kd_ntk/configs/teacher.py:tiny,epochs=2",
      f"--workdir={workdir}",
    )
  )
  assert "already finished (2 epochs)" in again


def test_train_teacher_rejects_bad_input_in_one_line(tmp_path):
  result = run_script(
    "train_teacher.py",
    "--config=kd_ntk/configs/teacher.py:tiny,batch_size=30",
    f"--workdir={tmp_path / 'bad'}",
  )
  assert result.returncode == 2  # kd_ntk.cli: 2 = bad input, 3 = diverged.
  assert result.stderr.strip().splitlines() == [
    "error: config: batch_size=30 must be divisible by the 4 devices."
  ]
  assert "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "bad")


def test_distill_trains_a_student_from_the_teacher_run(teacher_run, tmp_path):
  teacher_dir, _ = teacher_run
  out = _ok(
    run_script(
      "distill.py",
      "--config=kd_ntk/configs/distill.py:tiny,offline",
      f"--teacher_workdir={teacher_dir}",
      f"--workdir={tmp_path / 's'}",
    )
  )
  assert "final epoch 2: test accuracy" in out and "test fidelity" in out
  assert glob.glob(str(tmp_path / "s" / "events.out.tfevents.*"))


def test_supervision_complexity_writes_csv_plot_and_verdicts(
  teacher_run, tmp_path
):
  teacher_dir, _ = teacher_run
  out = _ok(
    run_script(
      "supervision_complexity.py",
      f"--config=kd_ntk/configs/complexity.py:tiny,teacher_workdir={teacher_dir}",
      f"--workdir={tmp_path}",
    )
  )
  for name in ("complexity.csv", "asc_vs_teacher_epoch.png", "verdicts.json"):
    assert os.path.getsize(tmp_path / name) > 0, name
  verdicts = json.load(open(tmp_path / "verdicts.json"))
  assert [v["claim"] for v in verdicts] == [
    "C1",
    "C2",
    "C2n",
    "C3a",
    "C3b",
    "C4",
    "C4n",
  ]
  assert all(v["outcome"] for v in verdicts)
  assert "C1" in out


def test_reproduce_in_parts_then_the_report(tmp_path):
  """Teachers, then two slices of the student grid, then the report: the last
  call trains nothing (every run is found finished), and results.json holds
  every per-seed row, the subsets' complexity rows and a verdict per claim.
  (The only end-to-end run of the tiny reproduction in the suite.)"""
  from kd_ntk.experiment import reproduce
  from kd_ntk.experiment.reproduction_plan import Part
  from kd_ntk.science import stats
  from kd_ntk.grid.layout import Layout
  from kd_ntk.configs import reproduce as reproduce_config

  # Refused parts (checked in this process: a launcher's exit on a ValueError
  # is tests/bad_inputs' subject).
  config = reproduce_config.get_config("tiny")
  with pytest.raises(ValueError, match="--part=teachers first"):
    reproduce.run(config, str(tmp_path), part=Part("students", (0, 2)))
  with pytest.raises(ValueError, match="students:I/K"):
    reproduce.run(config, str(tmp_path), part=Part("students", (2, 2)))
  args = ("--config=kd_ntk/configs/reproduce.py:tiny", f"--workdir={tmp_path}")
  _ok(run_script("reproduce.py", *args, "--part=teachers"))
  for part in ("students:0/2", "students:1/2"):
    assert f"part {part} done" in _ok(
      run_script("reproduce.py", *args, f"--part={part}")
    )
  out = _ok(run_script("reproduce.py", *args))
  main_runs = len(config.students) * len(config.methods) * len(config.seeds)
  runs = main_runs + len(config.binary.methods) * len(config.binary.seeds)
  assert out.count("already finished") == runs + 2  # + both teachers.
  assert f"report: {tmp_path}" in out
  layout = Layout(str(tmp_path))
  saved = json.load(open(layout.results))
  assert [v["claim"] for v in saved["verdicts"]] == (
    "C1 C2 C2n C3a C3b C4 C4n C5a C5b C6 C7 C8".split()
  )
  assert all(v["outcome"] in stats.OUTCOMES for v in saved["verdicts"])
  main = [r for r in saved["rows"] if r["task"] == "main"]
  assert len(main) == main_runs and len(saved["rows"]) == runs
  assert all(
    0.0 <= r["test_accuracy"] <= 1.0 for r in main if not r["diverged"]
  )
  kd = [r for r in main if r["mode"] != "none" and not r["diverged"]]
  assert all(0.0 <= r["train_margin_loss_final"] <= 1.0 for r in kd)
  assert {r["subset"] for r in saved["complexity_rows"]} == {0, 1}
  assert all(r["target_norm"] > 0 for r in saved["complexity_rows"])
  assert saved["early_selection"]["epoch"] in config.early.candidates
  # One subset-paired C1 comparison has two pairs: an interval, not "not testable".
  assert saved["verdicts"][0]["comparisons"][0]["n"] == 2
  text = open(layout.report).read()
  assert "C8" in text and text.index("## Verdicts") < text.index("## Regime")
  assert (
    "| claim | what was compared | estimate [95% interval] "
    "| detectable effect (80% power) | outcome | verdict |" in text
  )
  assert "Rule:" in text and "not testable in this regime" in text
  assert os.path.exists(
    os.path.join(layout.figures, "asc_vs_teacher_epoch.png")
  )


def test_mc_convergence_writes_its_table(tmp_path):
  out = _ok(
    run_script(
      "mc_convergence.py",
      f"--workdir={tmp_path}",
      "--widths=8,16",
      "--samples=1",
      "--n=16",
      "--repeats=1",
    )
  )
  assert "| width | m=1 |" in out
  for name in ("mc_convergence.csv", "mc_convergence.md", "mc_convergence.png"):
    assert os.path.getsize(tmp_path / name) > 0, name
