# Full reproduction on the device (not part of the package): teachers, K
# parallel slices of the student grid, then the analysis and report.
cd "$(dirname "$0")/.." || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .devdata/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 KD_NTK_CORE_ONLY=1
export KD_NTK_FASHION_MNIST_DIR=$PWD/.devdata/fashion-mnist
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export JAX_COMPILATION_CACHE_DIR=/tmp/jaxcache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
W=/tmp/runs/full; L=/tmp/logs; mkdir -p $L
K=${K:-12}
CFG=${CFG:---config=kd_ntk/configs/reproduce.py}
finish() {
  tar czf $OUT/full_results.tgz --exclude=checkpoints -C /tmp runs logs 2>/dev/null
  cp $L/timing.txt $OUT/ 2>/dev/null
}
trap finish EXIT
stamp() { echo "$(date +%s) $*" | tee -a $L/timing.txt; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import jax, flax, optax, orbax.checkpoint as o, ml_collections; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())" || exit 1
stamp start
python3 experiments/reproduce.py $CFG --workdir=$W --part=teachers > $L/teachers.log 2>&1
rc=$?; stamp "teachers rc=$rc"; tail -5 $L/teachers.log
[ $rc = 0 ] || { tail -40 $L/teachers.log; exit 1; }
for i in $(seq 0 $((K-1))); do
  python3 experiments/reproduce.py $CFG --workdir=$W --part=students:$i/$K > $L/slice$i.log 2>&1 &
done
wait; stamp "students done"
grep -l "Traceback" $L/slice*.log && tail -30 $(grep -l Traceback $L/slice*.log | head -1)
tail -2 $L/slice0.log
python3 experiments/reproduce.py $CFG --workdir=$W > $L/all.log 2>&1
rc=$?; stamp "all rc=$rc"; tail -25 $L/all.log
