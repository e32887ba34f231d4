"""A pure-numpy reader for IDX files (the MNIST / Fashion-MNIST format).

An IDX file is a 4-byte magic number `0x00 0x00 <dtype> <ndim>`, then `ndim`
big-endian uint32 dimensions, then the array in C order. Files may be gzipped.
"""

import gzip
import os

import numpy as np

# IDX type code -> numpy dtype (big-endian where it matters).
_IDX_DTYPES = {
  0x08: np.uint8,
  0x09: np.int8,
  0x0B: ">i2",
  0x0C: ">i4",
  0x0D: ">f4",
  0x0E: ">f8",
}


class IdxFormatError(ValueError):
  """Raised when a file is not a valid IDX file (corrupt header, wrong size)."""


def _read_bytes(path: str) -> bytes:
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rb") as fh:
      return fh.read()
  except (OSError, EOFError) as err:  # gzip raises BadGzipFile (an OSError).
    raise IdxFormatError(
      f"Cannot read IDX file {path}: {err}. The file is missing "
      "or corrupt; reinstall it (see the README's data section)."
    ) from err


def parse_idx(raw: bytes, path: str = "<bytes>") -> np.ndarray:
  """Decodes the bytes of an IDX file into an array, validating the header.

  Raises:
    IdxFormatError: bad magic number, unknown type code, or a payload whose size
      does not match the declared dimensions.
  """
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
    raise IdxFormatError(
      f"{path}: bad IDX magic number {raw[:4].hex()!r} "
      "(expected 0x0000 followed by type and rank bytes)."
    )
  type_code, ndim = raw[2], raw[3]
  if type_code not in _IDX_DTYPES:
    raise IdxFormatError(f"{path}: unknown IDX type code 0x{type_code:02x}.")
  if ndim == 0 or len(raw) < 4 + 4 * ndim:
    raise IdxFormatError(f"{path}: truncated IDX header (rank {ndim}).")
  dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
  dtype = np.dtype(_IDX_DTYPES[type_code])
  payload = len(raw) - 4 - 4 * ndim
  expected = int(np.prod(dims)) * dtype.itemsize
  if payload != expected:
    raise IdxFormatError(
      f"{path}: IDX header declares shape {dims} ({expected} bytes) "
      f"but the file holds {payload} bytes; it is truncated or corrupt."
    )
  data = np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(dims)
  return data.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str) -> np.ndarray:
  """Reads one IDX file (raw or .gz) into a numpy array."""
  return parse_idx(_read_bytes(path), path)


def write_idx(path: str, array: np.ndarray) -> None:
  """Writes `array` as an IDX file (gzipped when `path` ends in .gz); tests."""
  codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
  dtype = np.dtype(array.dtype).newbyteorder("=")
  if dtype not in codes:
    raise ValueError(f"IDX cannot store dtype {array.dtype}.")
  code = codes[dtype]
  header = (
    bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
  )
  body = np.ascontiguousarray(array, _IDX_DTYPES[code]).tobytes()
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "wb") as fh:
    fh.write(header + body)


def find_split_files(directory: str, split: str) -> tuple[str, str]:
  """Paths of the (images, labels) IDX files of `split` in `directory`.

  Accepts the canonical names `train-images-idx3-ubyte[.gz]` and
  `t10k-images-idx3-ubyte[.gz]` (split "test").
  """
  prefix = {"train": "train", "test": "t10k"}.get(split)
  if prefix is None:
    raise ValueError(
      f"IDX datasets have splits 'train' and 'test'; got {split!r}."
    )
  found = []
  for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
    candidates = [
      os.path.join(directory, f"{prefix}-{kind}{ext}") for ext in (".gz", "")
    ]
    existing = [c for c in candidates if os.path.exists(c)]
    if not existing:
      raise FileNotFoundError(
        f"No {prefix}-{kind}[.gz] in {directory}. Install the data with "
        "`sudo apt-get install -y dataset-fashion-mnist` (files land in "
        "/usr/share/datasets/fashion-mnist), or point --data_dir / the "
        "KD_NTK_FASHION_MNIST_DIR environment variable at a folder holding the "
        "four IDX files."
      )
    found.append(existing[0])
  return found[0], found[1]
