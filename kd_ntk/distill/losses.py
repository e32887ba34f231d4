"""Distillation losses: temperature-scaled KL to the teacher, mixed with label
CE.

With `p^τ = softmax(z/τ)`, the knowledge-distillation loss of Hinton et al.
(2015), as used by Harutyunyan et al. (2023), is

  L_KD(z_S, z_T) = τ² · KL(p_T^τ ‖ p_S^τ)
                 = τ² · Σ_c p_T,c^τ (log p_T,c^τ − log p_S,c^τ),

and the training objective mixes it with the label cross-entropy at τ = 1:

  L = α · CE(z_S, y) + (1 − α) · L_KD(z_S, z_T).

The τ² factor keeps the gradient scale comparable across temperatures: the
gradient with respect to the student logits is

  ∂[τ² · KL(p_T^τ ‖ p_S^τ)] / ∂z_S = τ · (p_S^τ − p_T^τ),

which for large τ approaches (z_S − z_T)/C (logit matching) instead of vanishing
like 1/τ. Without the factor the gradient is (p_S^τ − p_T^τ)/τ. All functions
are pure and jittable; the temperature and α may be traced scalars.
"""

import jax
import jax.numpy as jnp
import optax


def soft_targets(teacher_logits_BxC: jax.Array, temperature) -> jax.Array:
  """Teacher probabilities p_T^τ = softmax(z_T / τ), without gradient."""
  return jax.nn.softmax(
    jax.lax.stop_gradient(teacher_logits_BxC) / temperature, axis=-1
  )


def kl_to_teacher_B(
  student_logits_BxC: jax.Array, teacher_logits_BxC: jax.Array, temperature
) -> jax.Array:
  """Per-example KL(p_T^τ ‖ p_S^τ), shape (B,); no gradient flows to the
  teacher.

  Uses log-softmax on both sides, so finite logits never produce NaN (a teacher
  probability that underflows to 0 multiplies a finite log-ratio).
  """
  teacher = jax.lax.stop_gradient(teacher_logits_BxC)
  log_pt = jax.nn.log_softmax(teacher / temperature, axis=-1)
  log_ps = jax.nn.log_softmax(student_logits_BxC / temperature, axis=-1)
  return jnp.sum(jnp.exp(log_pt) * (log_pt - log_ps), axis=-1)


def kd_loss(
  student_logits_BxC: jax.Array,
  teacher_logits_BxC: jax.Array,
  temperature=1.0,
  scale_by_tau_squared: bool = True,
) -> jax.Array:
  """Batch mean of τ² · KL(p_T^τ ‖ p_S^τ) (or of KL alone when not scaled).

  Args:
    student_logits_BxC: student logits z_S (differentiated).
    teacher_logits_BxC: teacher logits z_T (treated as constants).
    temperature: τ > 0, a Python float or a traced scalar.
    scale_by_tau_squared: multiply by τ² (Hinton's convention, the paper's
      loss). Dropping it divides the gradient by τ², the same as dividing an SGD
      learning rate by τ² (up to weight decay).

  Returns:
    A scalar loss.
  """
  loss = jnp.mean(
    kl_to_teacher_B(student_logits_BxC, teacher_logits_BxC, temperature)
  )
  return loss * temperature**2 if scale_by_tau_squared else loss


def distillation_loss(
  student_logits_BxC: jax.Array,
  teacher_logits_BxC: jax.Array,
  labels_B: jax.Array,
  *,
  temperature=1.0,
  alpha=0.0,
  scale_by_tau_squared: bool = True,
  label_smoothing: float = 0.0,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """L = α · CE(z_S, y) + (1 − α) · τ² · KL(p_T^τ ‖ p_S^τ).

  Args:
    student_logits_BxC: student logits z_S.
    teacher_logits_BxC: teacher logits z_T (no gradient).
    labels_B: integer labels y for the cross-entropy term.
    temperature: τ (may be traced: a temperature curriculum does not recompile).
    alpha: weight α ∈ [0, 1] of the label term (may be traced). α = 1 is
      training on labels alone; α = 0 is pure distillation.
    scale_by_tau_squared: see `kd_loss`.
    label_smoothing: ε of the label term, as in
      `kd_ntk.train.steps.cross_entropy`.

  Returns:
    (loss, {"kd": KD term, "ce": label term}); both terms are reported whatever
    α.
  """
  num_classes = student_logits_BxC.shape[-1]
  targets = optax.smooth_labels(
    jax.nn.one_hot(labels_B, num_classes), label_smoothing
  )
  ce = optax.softmax_cross_entropy(student_logits_BxC, targets).mean()
  kd = kd_loss(
    student_logits_BxC, teacher_logits_BxC, temperature, scale_by_tau_squared
  )
  return alpha * ce + (1.0 - alpha) * kd, {"kd": kd, "ce": ce}
