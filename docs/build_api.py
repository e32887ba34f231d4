"""Builds kd_ntk's HTML API reference with pdoc and fails on any warning.

    .venv/bin/python docs/build_api.py [--output docs/api]   # or ./run.sh docs

Every module under `kd_ntk/` is documented (walked from the source tree, so
modules a package's `__all__` leaves out get a page too), docstrings read as
Google style. pdoc has no warnings-as-errors switch, so this script records
every warning raised while pdoc imports and renders the modules, prints them,
and exits 1 if there was any (a docstring pdoc cannot parse, a module that
fails to import, a deprecation at import time). It also exits 1 if building
the docs imported TensorFlow or neural-tangents: both stay optional, and
`import kd_ntk...` must not load them.

Two pdoc safety features are switched off because they only concern
untrusted code: subprocesses at import time (matplotlib asks `fc-list` for
fonts) and the hiding of constants whose value equals an environment variable
(`kd_ntk.xla_cpu`'s flag is the `XLA_FLAGS` that `import kd_ntk` sets).
"""

import argparse
import importlib
import os
import pathlib
import sys
import warnings

REPO = pathlib.Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "tensorflow_datasets", "neural_tangents")


def module_names(root: pathlib.Path = REPO / "kd_ntk") -> list[str]:
  """Dotted names of the package at `root` and every module below it."""
  names = []
  for path in sorted(root.rglob("*.py")):
    parts = path.relative_to(root.parent).with_suffix("").parts
    if "__pycache__" in parts:
      continue
    names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
  return sorted(set(names))


def resolve_lazy_names(module) -> None:
  """Binds the names a module's `__getattr__` provides (PEP 562) and its
  `__all__` lists, as `module.name` resolves them: pdoc reads `__all__`
  entries from the module's `__dict__` and would warn that lazy ones (e.g.
  `kd_ntk.score_teacher`) do not resolve."""
  if "__getattr__" not in vars(module):
    return
  for name in getattr(module, "__all__", ()):
    if name not in vars(module):
      setattr(module, name, getattr(module, name))


def minimal_specs(walk, root: pathlib.Path) -> list[str]:
  """The fewest module names whose pdoc walk covers every module of `root`.

  pdoc walks a package's submodules, but only those in its `__all__` when it
  has one, and warns when two names walk to the same module; so a name is
  passed only if no earlier name (parents come first) already covers it.
  Every module is imported first: a walk also finds the namespace packages
  (folders without `__init__.py`) that earlier imports made visible.
  """
  for name in module_names(root):
    resolve_lazy_names(importlib.import_module(name))
  specs, covered = [], set()
  for name in module_names(root):
    if name not in covered:
      specs.append(name)
      covered.update(walk([name]))
  return specs


def build(
  output: pathlib.Path, root: pathlib.Path = REPO / "kd_ntk"
) -> list[str]:
  """Writes the HTML reference of the package at `root` into `output`.

  Returns one line per distinct warning raised while importing and rendering,
  plus one if TensorFlow or neural-tangents got imported; empty means clean.
  """
  os.environ.setdefault("PDOC_ALLOW_EXEC", "1")
  os.environ.setdefault("PDOC_DISPLAY_ENV_VARS", "1")
  sys.path.insert(0, str(root.parent))
  import pdoc  # pylint: disable=g-import-not-at-top
  import pdoc.extract  # pylint: disable=g-import-not-at-top
  import pdoc.render  # pylint: disable=g-import-not-at-top

  pdoc.render.configure(
    docformat="google",
    footer_text="kd_ntk API reference (built by docs/build_api.py)",
  )
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    pdoc.pdoc(
      *minimal_specs(pdoc.extract.walk_specs, root), output_directory=output
    )
  seen, messages = set(), []
  for w in caught:
    line = f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}"
    if line not in seen:
      seen.add(line)
      messages.append(line)
  heavy = [name for name in HEAVY if name in sys.modules]
  if heavy:
    messages.append(f"building the docs imported {', '.join(heavy)}")
  return messages


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--output", default=str(REPO / "docs" / "api"), help="HTML folder"
  )
  args = parser.parse_args()
  output = pathlib.Path(args.output)
  messages = build(output)
  for message in messages:
    print(f"docs warning: {message}", file=sys.stderr)
  if messages:
    print(
      f"error: the API reference raised {len(messages)} warning(s) above; "
      "fix the docstrings or imports they name",
      file=sys.stderr,
    )
    return 1
  print(
    f"API reference: {output / 'index.html'} ({len(module_names())} modules)"
  )
  return 0


if __name__ == "__main__":
  sys.exit(main())
