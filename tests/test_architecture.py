"""The shape of the house: no import cycle in julia_core, pages free of file names and state strings."""
import ast
import re
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "julia_core"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The julia_core modules a file imports, at any depth (a function's imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("julia_core"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
    return found & modules


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, modules) - {module_name(path)} for path in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target.startswith("julia_core") and state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_in_julia_core():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"julia_core.a": {"julia_core.b"}, "julia_core.b": {"julia_core.a"}}) == [
        "julia_core.a", "julia_core.b", "julia_core.a"]
    assert find_cycle({"julia_core.a": {"julia_core.b"}, "julia_core.b": set()}) is None


def test_the_loop_knows_nothing_of_runs_pretraining_or_pseudo_labels():
    graph = import_graph()
    assert not {m for m in graph["julia_core.training.loop"] if m.startswith(("julia_core.runs", "julia_core.predict.pseudo"))}
    assert "julia_core.training.pretrain" not in graph["julia_core.training.loop"]


def test_pages_hold_no_file_names_or_state_strings():
    """Pages lay out widgets: the run directory's file names and the run states live in the core."""
    words = r"\.(pt|npz|json|csv)\b|checkpoints/|(trainResized|testResized|train|test)/|\"(queued|running|finished|failed|stopped)\""
    for page in sorted((REPO_ROOT / "pages").glob("*.py")):
        hits = [line for line in page.read_text().splitlines() if re.search(words, line)]
        assert not hits, f"{page.name}: {hits}"
        assert not re.search(r"^\s*(import|from) plotly", page.read_text(), re.M), \
            f"{page.name} builds a figure: julia_core.views.figures does"
