"""The student's distillation step: the teacher's forward pass and the
student's update in one jit.

The teacher's variables are an ARGUMENT of the step, not a constant closed over:
switching to another teacher checkpoint (same shapes) reuses the compiled step,
so online distillation costs what offline distillation costs. Temperature, α and
the blending weights are traced arguments as well, so curricula never recompile.
The teacher runs in inference mode (BatchNorm running statistics) under
`stop_gradient`, on the same augmented batch as the student.
"""

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk.distill.losses import distillation_loss
from kd_ntk.train.steps import apply_gradients_of
from kd_ntk.train.state import TrainState


def teacher_logits(
  teacher_variables: Sequence[Any],
  weights_K: jax.Array,
  images: jax.Array,
  *,
  teacher_model,
) -> jax.Array:
  """z_T = Σ_k w_k · f_k(images): logits of K teacher checkpoints mixed, no
  gradient.

  Args:
    teacher_variables: K flax variable dicts of the same teacher architecture
      (K = 1 normally, 2 when blending two checkpoints along the trajectory).
    weights_K: mixing weights (K,), summing to 1.
    images: the (augmented) batch.
    teacher_model: the teacher's flax module, applied with `train=False`.
  """
  logits = [
    teacher_model.apply(v, images, train=False) for v in teacher_variables
  ]
  mixed = sum(w * z for w, z in zip(weights_K, logits))
  return jax.lax.stop_gradient(mixed)


def distill_step(
  state: TrainState,
  images: jax.Array,
  labels: jax.Array,
  rng: jax.Array,
  teacher_variables: Sequence[Any],
  weights_K: jax.Array,
  temperature,
  alpha,
  *,
  model,
  teacher_model,
  tx,
  scale_by_tau_squared: bool = True,
  label_smoothing: float = 0.0,
):
  """One student update on α·CE + (1−α)·τ²·KL(p_T^τ ‖ p_S^τ).

  Args:
    state: the student's TrainState.
    images, labels: one batch (labels feed the α-weighted CE and the accuracy).
    rng: the run's training key (folded with the step for dropout).
    teacher_variables, weights_K: see `teacher_logits`.
    temperature: τ (traced scalar).
    alpha: α (traced scalar).
    model, teacher_model, tx: static: student module, teacher module, optimizer.
    scale_by_tau_squared: the τ² factor of the KD term.
    label_smoothing: ε of the label term.

  Returns:
    (new state, {loss, kd, ce, accuracy, fidelity}) where fidelity is the batch
    top-1 agreement with the (mixed) teacher, in train mode.
  """
  targets_BxC = teacher_logits(
    teacher_variables, weights_K, images, teacher_model=teacher_model
  )

  def loss_of_logits(logits_BxC):
    return distillation_loss(
      logits_BxC,
      targets_BxC,
      labels,
      temperature=temperature,
      alpha=alpha,
      scale_by_tau_squared=scale_by_tau_squared,
      label_smoothing=label_smoothing,
    )

  state, logits_BxC, metrics = apply_gradients_of(
    state, images, rng, loss_of_logits, model=model, tx=tx
  )
  predicted = jnp.argmax(logits_BxC, -1)
  metrics["accuracy"] = jnp.mean(predicted == labels)
  metrics["fidelity"] = jnp.mean(predicted == jnp.argmax(targets_BxC, -1))
  return state, metrics


def jit_distill_step(
  *,
  model,
  teacher_model,
  tx,
  scale_by_tau_squared: bool = True,
  label_smoothing: float = 0.0,
):
  """`distill_step` jitted, the student state donated (one compile per run)."""
  return jax.jit(
    functools.partial(
      distill_step,
      model=model,
      teacher_model=teacher_model,
      tx=tx,
      scale_by_tau_squared=scale_by_tau_squared,
      label_smoothing=label_smoothing,
    ),
    donate_argnums=0,
  )


def scalar(value) -> np.ndarray:
  """A float32 numpy scalar: a jitted step traces it, never bakes it in."""
  return np.asarray(value, np.float32)
