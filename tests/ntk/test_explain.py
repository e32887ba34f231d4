"""ntk.explain: the per-layer plan of empirical_ntk and its FLOP count."""

import jax
import jax.numpy as jnp
import numpy as np

from kd_ntk.ntk import explain


def _net(p, x):
  h = jax.lax.conv_general_dilated(
    x, p["conv"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  h = jnp.tanh(h * p["scale"]).reshape(x.shape[0], -1)
  return h @ p["dense"]


def test_explain_lists_each_layer_with_its_form_and_cost():
  rng = np.random.default_rng(0)
  params = dict(
    conv=rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
    scale=np.float32(1.5),
    dense=rng.standard_normal((4 * 4 * 4, 5)).astype(np.float32),
  )
  x = rng.standard_normal((10, 6, 6, 2)).astype(np.float32)
  plan = explain(_net, params, x, block_size=4)
  forms = {layer.path: layer.form for layer in plan.layers}
  assert forms == {
    "conv": "conv patches·cotangents",
    "dense": "dense factors",
    "scale": "plain Jacobian",
  }
  conv = next(l for l in plan.layers if l.path == "conv")
  # S = 16 output positions, D·O = 72, C = 5: one GEMM of 2·S·D·O·C per example.
  assert (
    conv.feature_floats == 5 * 72 and conv.flops_per_example == 2 * 16 * 72 * 5
  )
  dense = next(l for l in plan.layers if l.path == "dense")
  assert dense.feature_floats == 64 + 5 * 5
  # 3 blocks of 4, symmetric: 6 block pairs of 16 example pairs each.
  per_pair = sum(l.flops_per_pair for l in plan.layers)
  assert plan.gram_flops == 6 * 16 * per_pair
  assert plan.prepared_examples == 12 and plan.method == "structured"
  text = str(plan)
  assert "conv patches·cotangents" in text and "dense factors" in text
  jac = explain(_net, params, x, method="jacobian")
  assert {l.path: l.form for l in jac.layers} == {
    "conv": "plain Jacobian (patches·cot.)",
    "dense": "plain Jacobian (a⊗g)",
    "scale": "plain Jacobian",
  }
  assert sum(l.flops_per_pair for l in jac.layers) == 2 * 5 * (72 + 1 + 320)
