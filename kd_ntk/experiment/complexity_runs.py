"""complexity.csv rows over several NTK subsets, with ‖Y‖_F for norm matching.

Claims C1–C4 take their spread from several class-balanced NTK subsets: subset
s uses `subset_seed = s` and its own random-label draw
(`random_label_seed = s`), so each subset is an independent replicate of the
whole measurement. Each is one run of `kd_ntk.experiment.supervision_run` in
`<out>/subset<s>`; its rows get the integer columns `subset` and `draw` (the
layout the kernels helper's multi-subset runs also write). Each row carries
`target_norm` = ‖Y‖_F of its target matrix (written by supervision_run through
`kd_ntk.scoring`; for a complexity.csv written before that column existed,
`target_norms` recomputes it from the same subset and teacher checkpoints), so
that `kd_ntk.science.claims` can rescale ASC to the labels' norm (C2n, C4n).
"""

import os
from collections.abc import Sequence

import numpy as np

from kd_ntk import distributed
from kd_ntk import complexity
from kd_ntk.experiment import complexity_inputs, preflight, supervision_run
from kd_ntk.configs import complexity as complexity_config
from kd_ntk.data import data_mesh
from kd_ntk.train import runs, workdir as wd
from kd_ntk.train.evaluation import predict_logits
from kd_ntk.train.from_config import data_shape_of, splits_from_config


def strided(last: int, stride: int) -> tuple:
  """0, stride, 2·stride, …, and always `last`."""
  return tuple(
    sorted(set(range(0, last + 1, max(int(stride), 1))) | {int(last)})
  )


def subset_config(
  block,
  *,
  teacher_dir: str,
  student_dir: str,
  student_model,
  student_epochs: Sequence[int],
  teacher_epochs: Sequence[int],
  subset: int,
):
  """The complexity.py config of subset `subset`."""
  c = complexity_config.get_config("")
  c.teacher_workdir = os.path.abspath(teacher_dir)
  c.student_workdir = os.path.abspath(student_dir) if student_dir else ""
  if not student_dir:  # NTK of a fresh student of the analysed family at init.
    name, kwargs = student_model
    c.student_model = name
    c.student_model_kwargs.update(kwargs)
  c.student_epochs = tuple(student_epochs)
  c.teacher_epochs = tuple(teacher_epochs)
  c.num_examples = int(block.num_examples)
  c.temperatures = tuple(block.temperatures)
  c.subset_seed = c.random_label_seed = int(subset)
  c.eval_batch_size = int(block.eval_batch_size)
  c.bound_gamma = float(block.gamma)
  # One subset and one random-label draw per run: the replicates are these runs.
  c.num_subsets = c.num_random_draws = 1
  return c


def target_norms(config) -> dict[tuple, float]:
  """‖Y‖_F of every target matrix a supervision_run of `config` scores.

  Returns:
    (target, teacher_epoch, temperature) -> Frobenius norm; labels and random
    labels are one-hot, so sqrt(n).
  """
  teacher_cfg, model = runs.load_run(config.teacher_workdir)
  splits = splits_from_config(teacher_cfg)
  info = splits.info
  subset = complexity_inputs.ntk_subsets(  # The subset supervision_run used.
    splits.train_labels,
    config.num_examples,
    num_subsets=1,
    seed=config.subset_seed,
    num_classes=info.num_classes,
  )[0]
  n = len(subset)
  norms = {
    ("labels", None, None): float(np.sqrt(n)),
    ("random_labels", None, None): float(np.sqrt(n)),
  }
  mesh = data_mesh()
  for epoch in config.teacher_epochs:
    variables = runs.restore_variables(
      config.teacher_workdir,
      epoch,
      input_shape=info.image_shape,
      mesh=mesh,
      num_classes=info.num_classes,
    )
    logits = predict_logits(
      model,
      variables,
      splits.train_images[subset],
      batch_size=config.eval_batch_size,
      mesh=mesh,
    )
    for tau in config.temperatures:
      y = complexity.teacher_probabilities(logits, float(tau), config.centered)
      norms[("teacher", float(epoch), float(tau))] = float(np.linalg.norm(y))
  return norms


def run_subsets(
  block,
  *,
  teacher_dir: str,
  student_dir: str,
  student_model,
  student_epochs: Sequence[int],
  teacher_epochs: Sequence[int],
  out_dir: str,
) -> list[dict]:
  """Rows of every subset (computed, or reused when finished with this config).

  The subsets share one `StudentCheckpoints` (their student is the same), so
  the student's kernels compile once for all of them.
  """
  rows, checkpoints, checked = [], None, None
  for s in range(int(block.num_subsets)):
    c = subset_config(
      block,
      teacher_dir=teacher_dir,
      student_dir=student_dir,
      student_model=student_model,
      student_epochs=student_epochs,
      teacher_epochs=teacher_epochs,
      subset=s,
    )
    sub_dir = os.path.join(out_dir, f"subset{s}")
    csv_path = os.path.join(sub_dir, supervision_run.CSV_FILE)
    if not (
      wd.claim(sub_dir, c, write=distributed.is_writer())
      and os.path.exists(csv_path)
    ):
      if checked is None:  # One validation pass for every subset's run.
        checked = preflight.check_complexity_config(c, sub_dir)
      if checkpoints is None:
        shape = data_shape_of(runs.load_run(teacher_dir)[0])
        checkpoints = complexity_inputs.StudentCheckpoints(
          c, shape.num_classes, shape.input_shape
        )
      supervision_run.run(c, sub_dir, checkpoints, checked=checked)
    # Same parsed types as a reused file.
    subset_rows = supervision_run.read_csv(csv_path)
    norms = (
      None
      if all(r.get("target_norm") is not None for r in subset_rows)
      else target_norms(c)  # A file from before the column existed.
    )
    for r in subset_rows:
      if norms is not None:
        key = (r["target"], r.get("teacher_epoch"), r.get("temperature"))
        r = {**r, "target_norm": norms.get(key)}
      rows.append({**r, "subset": s, "draw": s})
  return rows
