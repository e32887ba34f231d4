"""Pure train and eval steps (jitted by the caller, with donation).

`apply_gradients_of` is the one place a loss becomes an update; label training
(here) and distillation (`kd_ntk.distill.steps`) only supply the loss of the
logits, so both share BatchNorm handling, dropout keys and metrics.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from kd_ntk.train.state import TrainState

LossOfLogits = Callable[[jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


def cross_entropy(
  logits_BxC: jax.Array, labels_B: jax.Array, label_smoothing: float = 0.0
) -> jax.Array:
  """Mean softmax cross-entropy, optionally against smoothed one-hot labels:
  y = (1−ε)·onehot + ε/C."""
  num_classes = logits_BxC.shape[-1]
  targets = jax.nn.one_hot(labels_B, num_classes)
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(logits_BxC, targets).mean()


def apply_gradients_of(
  state: TrainState,
  images: jax.Array,
  rng: jax.Array,
  loss_of_logits: LossOfLogits,
  *,
  model,
  tx: optax.GradientTransformation,
):
  """One optimizer step on `loss_of_logits(model(images, train=True))`.

  Returns:
    (new state, logits of the batch in train mode, auxiliary metrics of the
    loss).
  """
  dropout_rng = jax.random.fold_in(rng, state.step)
  mutable = ["batch_stats"] if state.batch_stats else []

  def loss_fn(params):
    variables = {
      "params": params,
      **({"batch_stats": state.batch_stats} if mutable else {}),
    }
    if mutable:
      logits, updates = model.apply(
        variables,
        images,
        train=True,
        mutable=mutable,
        rngs={"dropout": dropout_rng},
      )
    else:  # flax returns a (logits, {}) pair even for mutable=[]; skip it.
      logits, updates = (
        model.apply(
          variables, images, train=True, rngs={"dropout": dropout_rng}
        ),
        {},
      )
    loss, aux = loss_of_logits(logits)
    return loss, (logits, updates, aux)

  (loss, (logits, updates, aux)), grads = jax.value_and_grad(
    loss_fn, has_aux=True
  )(state.params)
  updates_opt, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = state.replace(
    step=state.step + 1,
    params=optax.apply_updates(state.params, updates_opt),
    batch_stats=updates.get("batch_stats", state.batch_stats),
    opt_state=opt_state,
  )
  return new_state, logits, {"loss": loss, **aux}


def train_step(
  state: TrainState,
  images: jax.Array,
  labels: jax.Array,
  rng: jax.Array,
  *,
  model,
  tx,
  label_smoothing: float = 0.0,
):
  """One SGD step on label cross-entropy. Returns (state, {loss, accuracy})."""
  loss_of_logits = lambda logits: (
    cross_entropy(logits, labels, label_smoothing),
    {},
  )
  state, logits, metrics = apply_gradients_of(
    state, images, rng, loss_of_logits, model=model, tx=tx
  )
  metrics["accuracy"] = jnp.mean(jnp.argmax(logits, -1) == labels)
  return state, metrics


def eval_step(
  variables, images: jax.Array, labels: jax.Array, mask: jax.Array, *, model
):
  """Sums of loss and correct predictions over the unmasked examples."""
  logits = model.apply(variables, images, train=False)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
  return {
    "loss_sum": jnp.sum(losses * mask),
    "correct": jnp.sum(correct * mask),
    "count": jnp.sum(mask),
  }


def predict_step(variables, images: jax.Array, *, model) -> jax.Array:
  """Logits in inference mode (BatchNorm running statistics)."""
  return model.apply(variables, images, train=False)
