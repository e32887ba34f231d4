"""Device check (run on a lent GPU; its output is
experiments/results/fashion_mnist_full/gpu_precision_check.json): the NTK's
precision on a GPU, then the
complexity part of the full reproduction with the fix (teacher and labels
student retrained with the same configs and seeds)."""

import json, os, shutil, time
import jax, jax.experimental, jax.numpy as jnp, numpy as np
from kd_ntk import models
from kd_ntk.ntk import empirical_ntk, x64_scope
from kd_ntk.complexity import supervision_complexity

OUT = os.environ["OUT"]
t0 = time.time()
from kd_ntk.grid import records as _rec

_name, _kw = _rec.Student("cnn-w2", "cnn", 2).model()
model = models.get_model(_name, 10, **_kw)
variables = models.init_variables(model, jax.random.PRNGKey(0), (28, 28, 1))
f, params = models.inference_fn(model, variables)
x = np.random.default_rng(0).random((256, 28, 28, 1), np.float32)
y = np.eye(10)[np.random.default_rng(1).integers(0, 10, 256)]
k_fixed = np.asarray(empirical_ntk(f, params, x), np.float64)


def jac(p, xx):  # (B*10, P), one example at a time
  one = lambda xi: jax.jacrev(lambda q: f(q, xi[None]).reshape(-1))(p)
  j = jax.vmap(one)(xx)
  return jnp.concatenate(
    [l.reshape(l.shape[0] * l.shape[1], -1) for l in jax.tree.leaves(j)], 1
  )


J = jax.jit(jac)(params, x)  # default precision (TF32 on this GPU)
k_tf32 = np.asarray(
  (J @ J.T).reshape(256, 10, 256, 10).trace(axis1=1, axis2=3), np.float64
)
with jax.default_device(jax.devices("cpu")[0]), x64_scope():
  p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  J64 = np.asarray(jax.jit(jac)(p64, x.astype(np.float64)))
k_ref = (J64 @ J64.T).reshape(256, 10, 256, 10).trace(axis1=1, axis2=3)
res = {}
for name, k in (
  ("fixed", k_fixed),
  ("tf32_default", k_tf32),
  ("cpu_float64", k_ref),
):
  r = supervision_complexity(y, (k + k.T) / 2)
  res[name] = {
    "rel_err_vs_cpu_f64": float(np.abs(k - k_ref).max() / np.abs(k_ref).max()),
    "asc": float(r.asc),
    "ridge_dominated": bool(r.ridge_dominated),
    "min_eig": float(np.linalg.eigvalsh(k).min()),
    "max_eig": float(np.linalg.eigvalsh(k).max()),
  }
res["seconds"] = time.time() - t0
print(json.dumps(res, indent=1), flush=True)
if os.environ.get("ONLY_PRECISION"):
  raise SystemExit
json.dump(res, open(f"{OUT}/precision_check.json", "w"), indent=1)

from kd_ntk.configs import reproduce as rc
from kd_ntk.experiment import reproduce, student_runs
from kd_ntk.experiment.reproduction_plan import plan_of
from kd_ntk.grid import records
from kd_ntk.grid.layout import Layout
from kd_ntk.train import loop as train_loop
from kd_ntk.distill import loop as distill_loop

config = rc.get_config("")
layout = Layout("/tmp/runs/cx")
train_loop.run(config.teacher, layout.teacher())
plan = plan_of(config)
smallest = plan.analysis_student
labels = records.TeachingMethod("labels", "none")
cfg = student_runs.student_config(
  config.students_run,
  config.teacher,
  teacher_dir=layout.teacher(),
  student=smallest,
  method=labels,
  seed=config.seeds[0],
)
sdir = layout.student_run("main", smallest, labels, config.seeds[0])
distill_loop.run(cfg, sdir)
shutil.copy(
  os.path.join(layout.teacher(), "metrics.jsonl"),
  f"{OUT}/teacher_metrics.jsonl",
)
shutil.copy(os.path.join(sdir, "metrics.jsonl"), f"{OUT}/student_metrics.jsonl")
print("trained", time.time() - t0, flush=True)
rows = reproduce.complexity_rows(plan.kernels, layout, smallest)
json.dump(rows, open(f"{OUT}/complexity_rows.json", "w"), default=str)
print("complexity done", time.time() - t0, flush=True)
