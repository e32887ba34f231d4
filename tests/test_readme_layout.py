"""The README's Layout section is complete and true.

Complete: every module under `kd_ntk/` is named in the entry of its package
(`kd_ntk/ntk  ... empirical ...`), every top-level module in an entry's
heading, every launcher under `experiments/` in the `experiments/` entry and
every benchmark script in the `experiments/benchmarks/` entry.
True: every path an entry's heading names exists.

The Layout is the fenced block after `## Layout`; an entry starts at column 0
with its heading (the text before the first run of two spaces) and continues
on the indented lines below it.
"""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parent.parent


def layout_entries(readme: str) -> dict[str, str]:
  """{heading: the entry's whole text} of the README's Layout block."""
  match = re.search(r"^## Layout\n(?:.*\n)*?```\n((?:.*\n)*?)```", readme, re.M)
  assert match, "README.md has no '## Layout' section with a fenced block"
  entries, heading = {}, None
  for line in match.group(1).splitlines():
    if line and not line[0].isspace():
      heading = re.split(r"\s{2,}", line, maxsplit=1)[0].strip()
      entries[heading] = line
    elif heading is not None:
      entries[heading] += "\n" + line
  return entries


def _names(text: str, word: str) -> bool:
  return re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", text) is not None


def _py_files(folder: pathlib.Path) -> list[pathlib.Path]:
  return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


ENTRIES = layout_entries((REPO / "README.md").read_text())


def test_every_kd_ntk_module_is_named_in_its_package_entry():
  missing = []
  for path in _py_files(REPO / "kd_ntk"):
    parts = path.relative_to(REPO / "kd_ntk").parts
    if len(parts) == 1:
      continue  # top-level modules: next test
    package = f"kd_ntk/{parts[0]}"
    if package not in ENTRIES:
      missing.append(f"{package} (no entry)")
    elif path.stem != "__init__" and not _names(ENTRIES[package], path.stem):
      missing.append(f"{package}/{path.name}")
  assert not missing, f"README Layout does not name: {sorted(set(missing))}"


def test_every_top_level_module_is_named_in_a_heading():
  headings = " ".join(ENTRIES)
  missing = [
    path.name
    for path in sorted((REPO / "kd_ntk").glob("*.py"))
    if not _names(headings, path.name)
  ]
  assert not missing, f"README Layout has no entry for kd_ntk/{missing}"


def test_every_experiments_script_is_named():
  """Launchers in the experiments/ entry, benchmarks and their helpers in the
  experiments/benchmarks/ entry; no other folder of scripts."""
  missing = []
  for folder in ("experiments/", "experiments/benchmarks/"):
    text = ENTRIES.get(folder, "")
    missing += [
      f"{folder}{path.name}"
      for path in sorted((REPO / folder).glob("*.py"))
      if not _names(text, path.stem)
    ]
  assert not missing, f"README Layout's experiments entries lack {missing}"
  scripts = {p.parent for p in (REPO / "experiments").rglob("*.py")}
  assert scripts <= {REPO / "experiments", REPO / "experiments/benchmarks"}, (
    f"scripts outside experiments/ and experiments/benchmarks/: {scripts}"
  )


def test_every_heading_names_paths_that_exist():
  absent = []
  for heading in ENTRIES:
    first, *more = [part.strip() for part in heading.split(",")]
    folder = (REPO / first).parent if first.endswith(".py") else REPO
    for name in [first, *(str(folder.relative_to(REPO) / m) for m in more)]:
      if not (REPO / name).exists():
        absent.append(name)
  assert not absent, f"README Layout names paths that do not exist: {absent}"


def test_the_parser_reads_the_entries():
  assert "kd_ntk/ntk" in ENTRIES and "experiments/" in ENTRIES
  assert _names(ENTRIES["kd_ntk/ntk"], "empirical")
  assert not _names("cnn_tiny, cnn.py", "cnn_tiny.py")
  assert _names("pooling (train-mode", "pooling")
  assert not _names("cnn_tiny", "cnn")
