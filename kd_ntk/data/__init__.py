"""Datasets as in-memory numpy arrays (IDX or TFDS) and the batch pipeline."""

from kd_ntk.data.idx import IdxFormatError, read_idx, write_idx
from kd_ntk.data.pipeline import (
  augment,
  channel_stats,
  class_balanced_subset,
  data_mesh,
  epoch_batch_indices,
  eval_batches,
  normalize,
  process_rows,
  shard_batch,
  shard_process_batch,
  sharded_train_batches,
  to_host,
  train_batches,
)
from kd_ntk.data.sources import DatasetInfo, fashion_mnist_dir, load
from kd_ntk.data.splits import Splits, prepare_splits

__all__ = [
  "DatasetInfo",
  "IdxFormatError",
  "augment",
  "channel_stats",
  "class_balanced_subset",
  "data_mesh",
  "epoch_batch_indices",
  "eval_batches",
  "fashion_mnist_dir",
  "load",
  "normalize",
  "prepare_splits",
  "process_rows",
  "read_idx",
  "shard_batch",
  "shard_process_batch",
  "sharded_train_batches",
  "to_host",
  "Splits",
  "train_batches",
  "write_idx",
]
