"""Writes docs/tutorial.ipynb from docs/tutorial.py (jupytext's percent format).

    .venv/bin/python docs/make_notebook.py          # rewrite the notebook
    .venv/bin/python docs/make_notebook.py --check  # exit 1 if it is stale

The script is the source: edit docs/tutorial.py, then rerun this. Cells start
at lines `# %%` (code) and `# %% [markdown]` (Markdown, its lines' leading
`# ` removed); the jupytext header comment block is kept as notebook metadata,
so `jupytext --sync` pairs the two files as well. The notebook is written
without outputs (nbformat 4.4); `tests/test_tutorial.py` executes the script
and checks that the notebook is current.
"""

import argparse
import json
import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
SOURCE, NOTEBOOK = DOCS / "tutorial.py", DOCS / "tutorial.ipynb"
METADATA = {
  "jupytext": {"formats": "ipynb,py:percent"},
  "kernelspec": {
    "display_name": "Python 3",
    "language": "python",
    "name": "python3",
  },
  "language_info": {"name": "python"},
}


def _lines(text: str) -> list[str]:
  """A cell's source as nbformat keeps it: lines with their newlines."""
  lines = text.strip("\n").split("\n")
  return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def cells(script: str) -> list[dict]:
  """The notebook cells of a percent-format script (header block dropped)."""
  body = re.sub(r"\A# ---\n(?:#.*\n)*?# ---\n", "", script)
  parts = re.split(r"^# %%(.*)\n", body, flags=re.M)
  result = []
  for marker, text in zip(parts[1::2], parts[2::2]):
    if not text.strip():
      continue
    if "[markdown]" in marker:
      markdown = re.sub(r"^# ?", "", text.strip("\n"), flags=re.M)
      result.append(
        {"cell_type": "markdown", "metadata": {}, "source": _lines(markdown)}
      )
    else:
      result.append(
        {
          "cell_type": "code",
          "execution_count": None,
          "metadata": {},
          "outputs": [],
          "source": _lines(text),
        }
      )
  return result


def notebook_text(script: str) -> str:
  notebook = {
    "cells": cells(script),
    "metadata": METADATA,
    "nbformat": 4,
    "nbformat_minor": 4,
  }
  return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--check", action="store_true", help="only compare")
  args = parser.parse_args()
  text = notebook_text(SOURCE.read_text())
  if args.check:
    if not NOTEBOOK.exists() or NOTEBOOK.read_text() != text:
      print(
        f"error: {NOTEBOOK} is stale; run .venv/bin/python docs/make_notebook.py",
        file=sys.stderr,
      )
      return 1
    return 0
  NOTEBOOK.write_text(text)
  print(f"wrote {NOTEBOOK} ({len(json.loads(text)['cells'])} cells)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
