"""Complexity part of the full reproduction on this CPU (teacher and labels
student retrained with the same configs and seeds)."""

import json, os, shutil, time

OUT = os.environ["OUT"]
t0 = time.time()
from kd_ntk.configs import reproduce as rc
from kd_ntk.analysis import reproduce, records, student_runs
from kd_ntk.analysis.layout import Layout
from kd_ntk.train import loop as train_loop
from kd_ntk.distill import loop as distill_loop

config = rc.get_config("")
layout = Layout(os.environ["CXDIR"])
train_loop.run(config.teacher, layout.teacher())
recs = reproduce.validate(config)
smallest = reproduce.analysis_student(recs["students"], config)
labels = records.TeachingMethod("labels", "none")
cfg = student_runs.student_config(
  config.students_run,
  config.teacher,
  layout.teacher(),
  smallest,
  labels,
  config.seeds[0],
)
sdir = layout.student_run("main", smallest, labels, config.seeds[0])
distill_loop.run(cfg, sdir)
shutil.copy(
  os.path.join(layout.teacher(), "metrics.jsonl"),
  f"{OUT}/teacher_metrics.jsonl",
)
shutil.copy(os.path.join(sdir, "metrics.jsonl"), f"{OUT}/student_metrics.jsonl")
print("trained", time.time() - t0, flush=True)
rows = reproduce.complexity_rows(config, layout, smallest)
json.dump(rows, open(f"{OUT}/complexity_rows.json", "w"), default=str)
print("complexity done", time.time() - t0, flush=True)
