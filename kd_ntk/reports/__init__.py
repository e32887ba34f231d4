"""Tables and plots from workdir files (CSV / JSONL); imports no JAX."""
