"""Per-epoch seconds read back from hand-written run directories."""

import json

import pytest

from kd_ntk.analysis import timing


def test_measured_sums_training_and_evaluation_seconds(tmp_path):
  run = tmp_path / "students" / "cnn-w2" / "online-tau4-alpha0" / "seed0"
  run.mkdir(parents=True)
  (run / "config.json").write_text(
    json.dumps(
      {"model": "cnn_tiny", "train_subset": 4096, "distill": {"mode": "online"}}
    )
  )
  rows = [
    {
      "epoch": 0,
      "seconds": 0.0,
      "eval_seconds": 9.0,
    },  # Epoch 0: init, not counted.
    {"epoch": 1, "seconds": 2.0, "eval_seconds": 1.0},
    {"epoch": 2, "seconds": 4.0, "eval_seconds": 1.0},
  ]
  (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
  (tmp_path / "stray").mkdir()
  (tmp_path / "stray" / "metrics.jsonl").write_text(
    '{"epoch": 1}'
  )  # No config: skipped.
  [entry] = timing.measured(str(tmp_path))
  assert entry["mode"] == "online" and entry["epochs"] == 2
  assert entry["seconds_per_epoch"] == pytest.approx(4.0)
  assert timing.estimate(
    4.0, epochs=30, runs=10, image_ratio=1.5
  ) == pytest.approx(1800)
