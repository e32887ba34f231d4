"""Writes the full configuration's report from its two invocations (see README.md): the student grid's rows from the GPU run's results.json and
the C1–C4 complexity rows from the CPU run, through the library's own
`reproduce.summarise` and `reproduce.write`.

  PYTHONPATH=. python experiments/results/fashion_mnist_full/merge.py \
      GPU_WORKDIR CPU_COMPLEXITY_ROWS_JSON CPU_TEACHER_METRICS_JSONL
"""

import json
import sys

from kd_ntk.analysis import reproduce
from kd_ntk.analysis.layout import Layout
from kd_ntk.configs import reproduce as reproduce_config


def main(gpu_workdir: str, cx_rows_path: str, cpu_teacher_metrics: str):
  layout = Layout(gpu_workdir)
  with open(layout.results) as fh:
    gpu = json.load(fh)
  config = reproduce_config.get_config("")
  if json.loads(config.to_json_best_effort()) != gpu["config"]:
    raise SystemExit("The GPU run's config differs from today's full config.")
  with open(cx_rows_path) as fh:
    cx_rows = json.load(fh)
  with open(cpu_teacher_metrics) as fh:
    cpu_teacher = [json.loads(line) for line in fh][-1]
  summary = reproduce.summarise(
    config,
    gpu["rows"],
    cx_rows,
    gpu["teacher_rows"],
    gpu["binary_teacher_rows"],
    gpu["early_selection"],
  )
  summary["provenance"] = (
    "two invocations (experiments/results/fashion_mnist_full/README.md). Teachers, early-teacher selection and all 70 student runs "
    "(C5–C8): one NVIDIA H200 (JAX 0.11.2), student grid in 14 concurrent "
    f"slices; its analysis step took {gpu['seconds'] / 60:.1f} min. C1–C4: "
    "a 2-core CPU (JAX 0.5.3), from a teacher and a labels-trained smallest "
    "student retrained with the same configs and seeds, because the GPU run's "
    "kernels were computed in TF32 (fixed since). GPU training is not "
    "bit-reproducible, so the CPU teacher is a replicate of the GPU teacher, "
    f"not a copy: final test accuracy {100 * cpu_teacher['test_accuracy']:.2f}% "
    f"(CPU) vs {100 * gpu['teacher_rows'][-1]['test_accuracy']:.2f}% (GPU)."
  )
  reproduce.write(summary, config, layout)
  print(layout.report)


if __name__ == "__main__":
  main(*sys.argv[1:])
