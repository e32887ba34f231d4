"""kd_ntk's folders import one another one way: no cycle between folders,
lazy imports (inside functions) included, and the config layer imports
nothing from the layers that run things.

A folder is a subpackage of kd_ntk (kd_ntk/train, kd_ntk/ntk, ...); a
top-level module (kd_ntk/cli.py) is a folder of its own. With no cycle the
folders have floors (a folder sits above everything it imports), so data
flows down: the reproduction calls the runs, the runs call the configs'
checks, never the other way round.
"""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "kd_ntk"
# What the config layer may import: plain data, its own checks, and the model
# registry (lazily, to check that a preset builds).
CONFIG_MAY_IMPORT = {"configs", "models"}


def _folder_of(path: pathlib.Path) -> str:
  rel = path.relative_to(PACKAGE)
  return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_folders(path: pathlib.Path):
  """(folder, line) of every kd_ntk import in a file, lazy ones included."""
  for node in ast.walk(ast.parse(path.read_text())):
    names = []
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      if node.module == "kd_ntk":
        names = [f"kd_ntk.{a.name}" for a in node.names]
      elif node.module.startswith("kd_ntk."):
        names = [node.module]
    elif isinstance(node, ast.Import):
      names = [a.name for a in node.names if a.name.startswith("kd_ntk.")]
    for name in names:
      yield name.split(".")[1], node.lineno


def folder_graph() -> dict[str, dict[str, list[str]]]:
  """{folder: {imported folder: ["file:line", ...]}} over kd_ntk."""
  graph: dict[str, dict[str, list[str]]] = {}
  for path in sorted(PACKAGE.rglob("*.py")):
    src = _folder_of(path)
    graph.setdefault(src, {})
    for dst, line in _imported_folders(path):
      if dst != src:
        where = f"{path.relative_to(PACKAGE.parent)}:{line}"
        graph[src].setdefault(dst, []).append(where)
  return graph


def find_cycle(graph) -> list[str]:
  """One cycle of folders ([] when there is none), by depth-first search."""
  state, stack = {}, []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for nxt in graph.get(node, {}):
      if state.get(nxt) == "open":
        return stack[stack.index(nxt) :] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    state[node] = "done"
    stack.pop()
    return []

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return []


def floors(graph) -> dict[str, int]:
  """Each folder's floor: 1 + the highest floor it imports (1: imports none).
  Defined only for a graph without cycles."""
  out: dict[str, int] = {}

  def floor(node):
    if node not in out:
      deps = [d for d in graph.get(node, {}) if d in graph]
      out[node] = 1 + max((floor(d) for d in deps), default=0)
    return out[node]

  for node in graph:
    floor(node)
  return out


def test_no_cycle_between_folders():
  graph = folder_graph()
  cycle = find_cycle(graph)
  detail = [f"{a} -> {b}: {graph[a][b][:3]}" for a, b in zip(cycle, cycle[1:])]
  assert not cycle, "import cycle between folders: " + "; ".join(detail)
  levels = floors(graph)
  for src, deps in graph.items():  # Every import goes to a lower floor.
    assert all(levels[src] > levels[d] for d in deps if d in levels), src


def test_the_config_layer_imports_no_layer_that_runs_things():
  upward = {
    dst: where
    for dst, where in folder_graph()["configs"].items()
    if dst not in CONFIG_MAY_IMPORT
  }
  assert not upward, f"kd_ntk/configs imports {upward}"


def test_the_cycle_finder_finds_a_planted_cycle():
  graph = {"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}
  assert find_cycle(graph) in (["a", "b", "c", "a"],)
  assert find_cycle({"a": {"b": []}, "b": {}}) == []


def test_the_science_imports_nothing_but_itself():
  """kd_ntk/science holds the claims as pure functions of result rows: no
  data, no runs, no models (the early teacher's selection, which evaluates
  checkpoints, lives in kd_ntk/experiment)."""
  assert folder_graph()["science"] == {}
