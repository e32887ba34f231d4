"""The API reference builder (docs/build_api.py): every module gets a page,
any warning fails the build, and building imports no TensorFlow; and every
python block in docs/*.md runs as printed.

The full kd_ntk reference is built by `./run.sh docs` in CI (leg 1); here the
builder runs, each time in a fresh process, on tiny packages made per test.
"""

import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
BUILDER = REPO / "docs" / "build_api.py"


def _package(tmp_path, files: dict[str, str]) -> pathlib.Path:
  root = tmp_path / "src" / "demo_pkg"
  for name, text in files.items():
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
  return root


def _build(root: pathlib.Path, output: pathlib.Path):
  pytest.importorskip(
    "pdoc", reason="pdoc (requirements.txt) is absent on the core-only leg"
  )
  code = (
    "import pathlib, sys\n"
    f"sys.path.insert(0, {str(BUILDER.parent)!r})\n"
    "import build_api\n"
    f"messages = build_api.build(pathlib.Path({str(output)!r}),"
    f" pathlib.Path({str(root)!r}))\n"
    "print('\\n'.join(messages))\n"
  )
  out = subprocess.run(
    [sys.executable, "-c", code],
    capture_output=True,
    text=True,
    check=False,
    timeout=120,
  )
  assert out.returncode == 0, out.stderr
  return [line for line in out.stdout.splitlines() if line]


CLEAN = {
  "__init__.py": '''
    """Demo package."""
    __all__ = ["double"]
    from demo_pkg.core import double
  ''',
  "core.py": '''
    """Core module.

        y = 2 x
    """

    def double(x: float) -> float:
      """Doubles `x`.

      Args:
        x: a number.

      Returns:
        2 x.
      """
      return 2 * x
  ''',
  "sub/__init__.py": '"""A subpackage left out of `__all__`."""\n',
  "sub/hidden.py": '"""A module no `__all__` names."""\n',
}


def test_every_module_gets_a_page_including_those_all_leaves_out(tmp_path):
  root = _package(tmp_path, CLEAN)
  assert _build(root, tmp_path / "html") == []
  pages = sorted(
    str(p.relative_to(tmp_path / "html"))
    for p in (tmp_path / "html").rglob("*.html")
  )
  assert pages == [
    "demo_pkg.html",
    "demo_pkg/core.html",
    "demo_pkg/sub.html",
    "demo_pkg/sub/hidden.html",
    "index.html",
  ]
  core = (tmp_path / "html" / "demo_pkg" / "core.html").read_text()
  assert "Doubles" in core and "Returns:" in core  # Google sections rendered


def test_a_warning_while_importing_fails_the_build(tmp_path):
  files = dict(CLEAN)
  files["noisy.py"] = '''
    """Warns at import."""
    import warnings
    warnings.warn("demo_pkg.noisy is deprecated", DeprecationWarning)
  '''
  messages = _build(_package(tmp_path, files), tmp_path / "html")
  assert len(messages) == 1
  assert "DeprecationWarning: demo_pkg.noisy is deprecated" in messages[0]


def test_importing_tensorflow_fails_the_build(tmp_path):
  pytest.importorskip(
    "tensorflow", reason="TensorFlow is absent on the core-only leg"
  )
  files = dict(CLEAN)
  files["eager.py"] = '"""Imports TensorFlow eagerly."""\nimport tensorflow\n'
  messages = _build(_package(tmp_path, files), tmp_path / "html")
  assert messages[-1] == "building the docs imported tensorflow"


def test_module_names_cover_every_kd_ntk_file():
  sys.path.insert(0, str(BUILDER.parent))
  try:
    import build_api  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.remove(str(BUILDER.parent))
  names = build_api.module_names()
  files = [
    p for p in (REPO / "kd_ntk").rglob("*.py") if "__pycache__" not in p.parts
  ]
  assert len(names) == len(files)
  assert "kd_ntk" in names and "kd_ntk.ntk.empirical" in names


def test_names_a_package_loads_lazily_are_documented(tmp_path):
  files = dict(CLEAN)
  files["__init__.py"] = '''
    """Demo package whose `triple` loads on first use (PEP 562)."""
    import importlib
    __all__ = ["triple"]

    def __getattr__(name):
      if name == "triple":
        return importlib.import_module("demo_pkg.extra").triple
      raise AttributeError(name)
  '''
  files["extra.py"] = '''
    """Loaded on first use."""

    def triple(x: float) -> float:
      """Triples `x`."""
      return 3 * x
  '''
  root = _package(tmp_path, files)
  assert _build(root, tmp_path / "html") == []
  page = (tmp_path / "html" / "demo_pkg.html").read_text()
  assert 'id="triple"' in page and "Triples" in page


def _python_blocks() -> list[tuple[str, int, str]]:
  blocks = []
  for page in sorted((REPO / "docs").glob("*.md")):
    text = page.read_text()
    for match in re.finditer(r"```python\n(.*?)```", text, re.S):
      line = text[: match.start()].count("\n") + 1
      blocks.append((page.name, line, match.group(1)))
  return blocks


@pytest.mark.parametrize(
  "page,line,code",
  _python_blocks(),
  ids=[f"{page}:{line}" for page, line, _ in _python_blocks()],
)
def test_python_snippets_in_docs_run(tmp_path, page, line, code):
  """Every python block of docs/*.md runs as printed (on the synthetic data)."""
  out = subprocess.run(
    [sys.executable, "-c", code],
    cwd=tmp_path,
    capture_output=True,
    text=True,
    check=False,
    timeout=600,
  )
  assert out.returncode == 0, f"docs/{page}:{line}:\n{out.stderr[-3000:]}"


def _slug(heading: str) -> str:
  """GitHub's anchor of a Markdown heading."""
  return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_relative_links_in_readme_and_docs_resolve():
  pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
  broken = []
  for page in pages:
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
      if re.match(r"[a-z]+:", target):
        continue  # an absolute URL
      path, _, anchor = target.partition("#")
      file = (page.parent / path).resolve() if path else page
      if not file.exists():
        broken.append(f"{page.name}: {target}")
      elif anchor and file.suffix == ".md":
        headings = re.findall(r"^#+ (.*)$", file.read_text(), re.M)
        if anchor not in {_slug(h) for h in headings}:
          broken.append(f"{page.name}: {target} (no such heading)")
  assert not broken, broken


MAX_CELL_CHARS = 240  # "no table cell over a few lines": 3 lines of 80


def test_no_table_cell_runs_over_a_few_lines():
  long_cells = []
  for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
    for number, line in enumerate(page.read_text().splitlines(), 1):
      if line.startswith("|"):
        for cell in line.strip().strip("|").split("|"):
          if len(cell.strip()) > MAX_CELL_CHARS:
            long_cells.append(f"{page.name}:{number}: {cell.strip()[:60]}...")
  assert not long_cells, (
    f"table cells over {MAX_CELL_CHARS} characters (move the details to a "
    f"list below the table): {long_cells}"
  )
