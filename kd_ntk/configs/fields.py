"""The lists of config fields and modes that several floors must agree on.

One owner for each list: the validation, the student grid, the compilation
cache and the lock-step teacher all import these instead of spelling the
fields out again, so a field added here reaches every one of them.

* `EXAMPLE_FIELDS` select a run's training examples. A student, and the
  student of a complexity run, must equal its teacher in every one of them:
  the teacher's targets are defined on exactly those examples.
* `DATA_FIELDS` are everything `kd_ntk.train.from_config.splits_from_config`
  reads: the examples, where the data lives and the test subset. A student of
  a reproduction copies them from its teacher, and two configs that agree on
  them load the same arrays (the grid loads them once).
* `DISTILL_MODES` are the values of `distill.mode`, the ways a student run
  is taught (`kd_ntk.distill.plan` turns each into a teacher schedule).
* `MODE_PRESETS` are the config variants of `kd_ntk/configs/distill.py` that
  are not modes themselves: each names the mode it sets and the fields it
  changes, as data rather than as a string to take apart.
"""

EXAMPLE_FIELDS = (
  "dataset",
  "data_source",
  "train_subset",
  "subset_seed",
  "classes",
)
DATA_FIELDS = EXAMPLE_FIELDS + ("data_dir", "test_subset")

DISTILL_MODES = ("none", "offline", "early", "online", "anchors", "lockstep")

# Variant -> (the mode it sets, distill block -> the fields it changes).
MODE_PRESETS = {
  "online_blend": ("online", lambda d: {"granularity": "step_blend"}),
  "online_switch": ("online", lambda d: {"granularity": "step_switch"}),
  # Two-checkpoint progressive distillation: an early checkpoint for the
  # first half of training, then the final one (−1); () switches half-way.
  "progressive": (
    "anchors",
    lambda d: {
      "anchor_epochs": (d.early_epoch, -1),
      "anchor_switch_epochs": (),
    },
  ),
  # The final teacher with τ falling linearly from 8 to 1 over the epochs.
  "temperature_curriculum": (
    "offline",
    lambda d: {
      "temperature_schedule": "linear",
      "temperature_start": 8.0,
      "temperature": 1.0,
    },
  ),
}
