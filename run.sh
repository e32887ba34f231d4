#!/usr/bin/env bash
# kd_ntk set-up and entry points. Each command creates or reuses the virtual
# environment it needs and installs the Fashion-MNIST data when it is missing.
#
#   ./run.sh main         quick end-to-end experiment on Fashion-MNIST (about 10 min, 2 CPU cores)
#   ./run.sh test         the test suite on the pinned stack (.venv), 2 worker processes
#   ./run.sh test-isa     the same suite with XLA:CPU limited to an older
#                         instruction set (AVX2, or SSE4_2 on an AVX2 machine)
#   ./run.sh test-latest  core tests on the newest JAX/flax/optax/orbax, without
#                         TensorFlow or neural-tangents (.venv-latest)
#   ./run.sh env          only create/refresh .venv and the data
#   ./run.sh lint         check the formatting (ruff format --check; ruff.toml)
#   ./run.sh docs         build the HTML API reference into docs/api (pdoc; fails on any warning)
#
# Without root, the data cannot be installed with apt: point
# KD_NTK_FASHION_MNIST_DIR at a folder holding the four Fashion-MNIST IDX files
# (train-images-idx3-ubyte.gz, ...), or use a TFDS data_dir (--data_dir).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

ensure_venv() {  # ensure_venv DIR STAMP_CONTENT INSTALL_COMMAND...
  local dir=$1 stamp=$2; shift 2
  if [ ! -x "$dir/bin/python" ]; then
    echo "== creating $dir" >&2
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip
  fi
  if [ "$(cat "$dir/.kd_ntk_stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "== installing requirements into $dir" >&2
    "$@"
    "$dir/bin/pip" install -q --no-deps -e .
    echo "$stamp" > "$dir/.kd_ntk_stamp"
  fi
}

pinned_env() {
  ensure_venv .venv "$(cat requirements.txt requirements-lock.txt setup.py | sha1sum)" \
    .venv/bin/pip install -q -r requirements.txt -c requirements-lock.txt
}

LATEST_PACKAGES="jax flax optax orbax-checkpoint absl-py ml-collections numpy scipy tensorboardX
  matplotlib pytest pytest-xdist"

latest_env() {
  # No stamp refresh by date: delete .venv-latest to pick up newer releases.
  ensure_venv .venv-latest "$(echo $LATEST_PACKAGES | cat - setup.py | sha1sum)" \
    .venv-latest/bin/pip install -q --upgrade $LATEST_PACKAGES
}

# The test files are spread over KD_NTK_TEST_WORKERS processes (pytest-xdist,
# whole files per worker so module fixtures are built once); 0 runs them in
# this process, one after another.
TEST_WORKERS=(-n "${KD_NTK_TEST_WORKERS:-2}" --dist loadfile)

ensure_data() {
  local dir=${KD_NTK_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
  [ -f "$dir/t10k-labels-idx1-ubyte.gz" ] || [ -f "$dir/t10k-labels-idx1-ubyte" ] && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian package dataset-fashion-mnist" >&2
    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "Fashion-MNIST is missing from $dir and apt needs root. Either run" >&2
    echo "  sudo apt-get install -y dataset-fashion-mnist" >&2
    echo "or set KD_NTK_FASHION_MNIST_DIR to a folder with the four IDX files." >&2
    exit 1
  fi
}

case "${1:-}" in
  main)
    shift; pinned_env; ensure_data
    .venv/bin/python experiments/reproduce.py --config=kd_ntk/configs/reproduce.py:quick \
      --workdir="${KD_NTK_WORKDIR:-runs/quick}" "$@" ;;
  test)
    shift; pinned_env; ensure_data
    .venv/bin/python -m pytest tests -q "${TEST_WORKERS[@]}" "$@" ;;
  test-isa)
    # XLA:CPU limited to an older instruction set than this CPU's (AVX2 on an
    # AVX-512 machine, else SSE4_2) computes other float32 bits: the pinned
    # suite must pass there too (KD_NTK_TEST_ISA overrides the choice).
    shift; pinned_env; ensure_data
    isa=${KD_NTK_TEST_ISA:-$(grep -q avx512f /proc/cpuinfo 2>/dev/null && echo AVX2 || echo SSE4_2)}
    echo "== pinned suite with XLA_FLAGS=--xla_cpu_max_isa=$isa" >&2
    XLA_FLAGS="${XLA_FLAGS:-} --xla_cpu_max_isa=$isa" \
      .venv/bin/python -m pytest tests -q "${TEST_WORKERS[@]}" "$@" ;;
  test-latest)
    shift; latest_env; ensure_data
    KD_NTK_CORE_ONLY=1 .venv-latest/bin/python -m pytest tests -q -rs "${TEST_WORKERS[@]}" "$@" ;;
  env)
    pinned_env; ensure_data ;;
  lint)
    pinned_env; .venv/bin/ruff format --check . ;;
  docs)
    shift; pinned_env; .venv/bin/python docs/build_api.py "$@" ;;
  *)
    sed -n '2,17p' "$0"; exit 2 ;;
esac
