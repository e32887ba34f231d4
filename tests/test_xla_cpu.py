"""The XLA CPU flag kd_ntk applies at import: where, and never over the user's choice."""

from kd_ntk import xla_cpu


def test_flag_only_on_jax_0_5():
  assert xla_cpu.flags_for("0.5.3") == (xla_cpu.LEGACY_RUNTIME_FLAG,)
  assert xla_cpu.flags_for("0.10.2") == () and xla_cpu.flags_for("0.50.0") == ()


def test_apply_defaults_appends_once_and_respects_the_user(monkeypatch):
  monkeypatch.setattr(
    xla_cpu.importlib.metadata, "version", lambda name: "0.5.3"
  )
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
  xla_cpu.apply_defaults(env)
  xla_cpu.apply_defaults(env)
  assert env["XLA_FLAGS"] == (
    "--xla_force_host_platform_device_count=4 --xla_cpu_use_thunk_runtime=false"
  )
  user = {"XLA_FLAGS": "--xla_cpu_use_thunk_runtime=true"}
  xla_cpu.apply_defaults(user)
  assert user["XLA_FLAGS"] == "--xla_cpu_use_thunk_runtime=true"
  opted_out = {"KD_NTK_XLA_DEFAULTS": "0"}
  xla_cpu.apply_defaults(opted_out)
  assert "XLA_FLAGS" not in opted_out
  monkeypatch.setattr(
    xla_cpu.importlib.metadata, "version", lambda name: "0.10.2"
  )
  newest = {}
  xla_cpu.apply_defaults(newest)
  assert newest == {}


def test_without_defaults_keeps_other_flags_and_opts_out():
  env = {
    "XLA_FLAGS": "--xla_force_host_platform_device_count=4 "
    "--xla_cpu_use_thunk_runtime=false",
    "HOME": "/h",
  }
  clean = xla_cpu.without_defaults(env)
  assert clean == {
    "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
    "HOME": "/h",
    "KD_NTK_XLA_DEFAULTS": "0",
  }
  xla_cpu.apply_defaults(clean)  # The opt-out holds in the child.
  assert "thunk" not in clean["XLA_FLAGS"]
  assert "thunk" in env["XLA_FLAGS"]  # The caller's environ is untouched.
