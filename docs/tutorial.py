# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial: your student, your teacher, their supervision complexity
#
# This tutorial scores how hard a teacher's targets are for a student to
# learn, the *supervision complexity* of Harutyunyan et al. (ICLR 2023),
# with a student and a teacher written here, not kd_ntk's presets:
#
# 1. load a small class-balanced Fashion-MNIST subset with `kd_ntk.data`;
# 2. define a teacher as a flax module and train it with a hand-written optax
#    loop, keeping every epoch's parameters (the checkpoints);
# 3. define a student as a flax module and score labels, random labels and
#    every checkpoint at several temperatures τ with `kd_ntk.score_teacher`;
# 4. plot the average supervision complexity (ASC) against checkpoint and τ;
# 5. compute the student's kernel three ways: kd_ntk's empirical NTK,
#    neural-tangents' empirical NTK and a Monte-Carlo average over
#    initialisations, and score the same targets under each.
#
# For a subset of n examples, the student's trace NTK K (summed over its C
# logits) and targets Y (n × C: one-hot labels or softmax(z/τ) of teacher
# logits z),
#
#     SC = tr(Yᵀ (K + λI)⁻¹ Y),   ASC = (1/n)·sqrt(SC · tr K),
#     ASC_nm = ASC · sqrt(n) / ‖Y‖_F   (norm-matched to one-hot labels).
#
# Run it as a script (`.venv/bin/python docs/tutorial.py`: about 30 s of CPU
# time) or open `docs/tutorial.ipynb`, the same cells as a notebook (written
# from this file by `docs/make_notebook.py`; jupytext pairs them too). The
# figure is written
# to `$KD_NTK_TUTORIAL_DIR` (default: a new temporary folder). It reads the
# real Fashion-MNIST (or `$KD_NTK_FASHION_MNIST_DIR`; the tests point that at a
# synthetic look-alike, so the numbers there differ from the real data's).

# %%
import os
import tempfile
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import kd_ntk

START = time.time()
OUT = os.environ.get("KD_NTK_TUTORIAL_DIR") or tempfile.mkdtemp(
  prefix="kd_ntk_"
)
os.makedirs(OUT, exist_ok=True)

# %% [markdown]
# ## 1. Data
#
# 1,000 class-balanced training images and 500 test images, normalised per
# channel with the statistics of the training images (never the test split's).

# %%
train_uint8, train_labels, info = kd_ntk.data.load("fashion_mnist", "train")
test_uint8, test_labels, _ = kd_ntk.data.load("fashion_mnist", "test")
keep = kd_ntk.data.class_balanced_subset(train_labels, 1000, seed=0)
mean, std = kd_ntk.data.channel_stats(train_uint8[keep])
x_train = kd_ntk.data.normalize(train_uint8[keep], mean, std)
y_train = train_labels[keep].astype(np.int32)
x_test = kd_ntk.data.normalize(test_uint8[:500], mean, std)
y_test = test_labels[:500].astype(np.int32)
num_classes = info.num_classes
print(f"train {x_train.shape}, test {x_test.shape}, {num_classes} classes")


# %% [markdown]
# ## 2. A teacher of your own, every epoch kept
#
# Any model works as a teacher: all kd_ntk needs later is its logits on the
# scored images at each checkpoint, `{epoch: logits (N, C)}`. (A teacher
# trained by `experiments/train_teacher.py` can be passed as its workdir or as
# `kd_ntk.load_teacher(workdir)` instead.)


# %%
class Teacher(nn.Module):
  """A small CNN: two 3×3 convolutions with max pooling, then a linear layer."""

  @nn.compact
  def __call__(self, x):
    for features in (16, 32):
      x = nn.relu(nn.Conv(features, (3, 3))(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    return nn.Dense(num_classes)(x.reshape((x.shape[0], -1)))


teacher = Teacher()
params = teacher.init(jax.random.PRNGKey(1), x_train[:1])["params"]
optimizer = optax.sgd(0.05, momentum=0.9)
opt_state = optimizer.init(params)


@jax.jit
def train_step(params, opt_state, x, y):
  def loss_fn(p):
    logits = teacher.apply({"params": p}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  loss, grads = jax.value_and_grad(loss_fn)(params)
  updates, opt_state = optimizer.update(grads, opt_state)
  return optax.apply_updates(params, updates), opt_state, loss


predict = jax.jit(lambda p, x: teacher.apply({"params": p}, x))
EPOCHS, BATCH = 6, 50
checkpoints = {0: params}  # epoch 0 = initialisation
order = np.random.default_rng(0)
for epoch in range(1, EPOCHS + 1):
  perm = order.permutation(len(x_train))
  for start in range(0, len(perm), BATCH):
    rows = perm[start : start + BATCH]
    params, opt_state, loss = train_step(
      params, opt_state, x_train[rows], y_train[rows]
    )
  checkpoints[epoch] = params
  accuracy = float((predict(params, x_test).argmax(-1) == y_test).mean())
  print(f"epoch {epoch}: loss {float(loss):.3f}, test accuracy {accuracy:.1%}")

# The teacher's logits on the training images, per checkpoint.
teacher_logits = {
  epoch: np.asarray(predict(p, x_train)) for epoch, p in checkpoints.items()
}


# %% [markdown]
# ## 3. A student of your own, and one call to score the teacher
#
# `score_teacher` takes a flax module with its variables (with or without a
# `train` argument; `kd_ntk.FlaxAdapter` does the calling) or any
# `f(params, x) -> logits`. It draws class-balanced NTK subsets of the inputs,
# computes the student's NTK on each once, and scores every target on it.


# %%
class Student(nn.Module):
  """A thin CNN: one strided 3×3 convolution of width 4 and a linear layer."""

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(4, (3, 3), strides=(2, 2))(x))
    return nn.Dense(num_classes)(x.reshape((x.shape[0], -1)))


student = Student()
variables = student.init(jax.random.PRNGKey(0), x_train[:1])
TEMPERATURES = (1, 2, 4, 8)
scores = kd_ntk.score_teacher(
  student,
  variables,
  x_train,
  labels=y_train,
  targets=teacher_logits,
  temperatures=TEMPERATURES,
  subsets=3,
  num_examples=128,
  random_label_draws=1,
)
print(scores.to_markdown())
scores.to_csv(os.path.join(OUT, "scores.csv"))

# %% [markdown]
# ## 4. ASC against checkpoint and temperature
#
# Each point is the mean over the 3 subsets with its 95% t-interval. The
# paper's claims: random labels are more complex than labels, labels than the
# trained teacher (C1); later checkpoints are more complex (C2); a higher τ
# gives simpler targets (C4). Norm matching rescales every target to the norm
# of one-hot labels, so that softness alone does not lower the score.

# %%
epochs = sorted(teacher_logits)
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
for ax, field, name in (
  (axes[0], "asc", "ASC"),
  (axes[1], "asc_norm_matched", "norm-matched ASC"),
):
  for tau in TEMPERATURES:
    rows = [getattr(scores.summary("teacher", e, tau), field) for e in epochs]
    ax.errorbar(
      epochs,
      [r.mean for r in rows],
      yerr=[[r.mean - r.low for r in rows], [r.high - r.mean for r in rows]],
      marker="o",
      capsize=3,
      label=f"teacher, τ = {tau}",
    )
  for target, style in (("labels", "--"), ("random_labels", ":")):
    level = getattr(scores.summary(target), field).mean
    ax.axhline(level, color="black", linestyle=style, label=target)
  ax.set_xticks(epochs)
  ax.set_xlabel("teacher checkpoint (epoch)")
  ax.set_ylabel(name)
  ax.set_title(name)
axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
fig.suptitle(
  f"Student: {type(student).__name__} (thin CNN); kernel: {scores.kernel} "
  f"NTK at initialisation; n = {scores.n} × {scores.num_subsets} subsets"
)
fig.tight_layout()
figure_path = os.path.join(OUT, "asc_vs_checkpoint.png")
fig.savefig(figure_path, dpi=100)
print(f"figure: {figure_path}")

final = scores.summary("teacher", EPOCHS, 4)
print(
  f"ASC: random labels {scores.summary('random_labels').asc.mean:.3f}, "
  f"labels {scores.summary('labels').asc.mean:.3f}, "
  f"teacher epoch {EPOCHS} at τ = 4 {final.asc.mean:.3f}"
)

# %% [markdown]
# ## 5. The kernel three ways
#
# The student as `f(params, x)`: `FlaxAdapter` calls a module in inference
# mode whatever its `__call__` takes. On 64 training images:
#
# * kd_ntk's empirical NTK, `K_ij = Σ_c ⟨∂f_c(x_i)/∂θ, ∂f_c(x_j)/∂θ⟩`, the
#   paper's kernel: the trace over the C logits is a *sum*
#   (`trace_reduction="sum"`, the default);
# * neural-tangents' empirical NTK of the same `f`, whose trace over the
#   logits is a *mean*: kd_ntk's with `trace_reduction="mean"`, or its
#   default divided by C;
# * the Monte-Carlo NTK, kd_ntk's averaged over 8 initialisations of the
#   student (an estimate of its expected kernel, not of this one).
#
# ASC does not change when K is multiplied by a constant (the ridge is
# relative to tr K / n), so the first two give the same scores.

# %%
f, student_params = kd_ntk.FlaxAdapter(student).inference_fn(variables)
kernel_rows = kd_ntk.data.class_balanced_subset(y_train, 64, seed=1)
x_kernel, y_kernel = x_train[kernel_rows], y_train[kernel_rows]
gram_kd = kd_ntk.ntk.empirical_ntk(
  f, student_params, x_kernel, output="trace", dtype=jnp.float64
)

try:
  import neural_tangents as nt
except ImportError:  # optional: requirements.txt installs it
  nt = None
if nt is not None:
  nt_fn = nt.empirical_ntk_fn(
    f,
    trace_axes=(-1,),
    vmap_axes=0,
    implementation=nt.NtkImplementation.JACOBIAN_CONTRACTION,
  )
  gram_nt = np.asarray(nt_fn(x_kernel, None, student_params), np.float64)
  gram_kd_mean = kd_ntk.ntk.empirical_ntk(
    f,
    student_params,
    x_kernel,
    output="trace",
    trace_reduction="mean",
    dtype=jnp.float64,
  )
  gap = np.abs(gram_kd_mean - gram_nt).max() / np.abs(gram_nt).max()
  print(f"max |K_kd(mean) − K_nt| / max |K_nt| = {gap:.1e}")
  ratio = np.trace(gram_kd) / np.trace(gram_nt)
  print(f"tr K_kd(sum) / tr K_nt = {ratio:.4f} (C = {num_classes})")
  assert gap < 1e-4, (
    "kd_ntk's mean-reduced kernel should equal neural-tangents'"
  )


def init_student(rng):
  return kd_ntk.FlaxAdapter(student).inference_fn(
    student.init(rng, x_train[:1])
  )[1]


gram_mc = kd_ntk.ntk.monte_carlo_ntk(
  f, init_student, x_kernel, num_samples=8, rng=jax.random.PRNGKey(2)
)
cosine = (
  np.sum(gram_kd * gram_mc) / np.linalg.norm(gram_kd) / np.linalg.norm(gram_mc)
)
print(
  f"cosine similarity of the empirical and Monte-Carlo kernels: {cosine:.3f}"
)

# %% [markdown]
# The same targets scored under each kernel: `kernel=` takes any function
# from a subset of inputs to its Gram matrix (here, for the one subset of all
# 64 images, the matrices computed above).

# %%
kernels = {"kd_ntk": lambda xs: gram_kd, "monte_carlo": lambda xs: gram_mc}
if nt is not None:
  kernels["neural_tangents"] = lambda xs: gram_nt
for name, kernel in kernels.items():
  by_kernel = kd_ntk.score_teacher(
    f,
    student_params,
    x_kernel,
    labels=y_kernel,
    targets={EPOCHS: teacher_logits[EPOCHS][kernel_rows]},
    temperatures=(4,),
    subsets=[np.arange(len(x_kernel))],
    kernel=kernel,
  )
  labels_asc = by_kernel.summary("labels").asc.mean
  teacher_asc = by_kernel.summary("teacher", EPOCHS, 4).asc.mean
  print(
    f"{name:>16}: ASC labels {labels_asc:.4f}, teacher τ=4 {teacher_asc:.4f}"
  )

print(f"tutorial done in {time.time() - START:.0f} s")
