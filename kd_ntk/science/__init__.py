"""The science: claims C1–C8, paired statistics, power and verdicts, as pure
functions of result rows (no JAX, no files)."""
