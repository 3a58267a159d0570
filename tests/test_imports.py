"""bench's import graph, read from the source with `ast`: no cycle, config at the bottom, no torch for the CLI.

Every import counts, at module level and inside functions: a function-level import defers the cost,
not the dependency. An edge goes to the module named (`from bench.steps import full` -> bench.steps.full
when that is a module, else bench.steps); the implicit import of parent packages is not an edge, or every
package whose __init__ imports its modules would be a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "bench"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def bench_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module an ImportFrom names (relative imports resolved against the importer)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The bench modules that module `name` (file `path`) imports anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, name, path.name == "__init__.py")
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = bench_modules()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search with white/grey/black marks)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_sees_both_import_forms_and_function_level_imports():
    graph = import_graph()
    assert "bench.steps.base" in graph["bench.steps.full"]  # from bench.steps.base import ...
    assert "bench.steps" in graph["bench.registry"]  # import bench.steps, inside load_all()
    assert "bench.steps.full" in graph["bench.steps"]  # from bench.steps import full, ...


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_bench_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in bench/: " + " -> ".join(cycle)


def test_config_imports_nothing_of_bench():
    imported = import_graph()["bench.config"]
    assert not imported, f"bench/config.py must sit at the bottom; it imports {sorted(imported)}"


def test_config_and_cli_do_not_import_torch():
    code = "import sys, bench.config, bench.cli; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"importing bench.config and bench.cli imported {out.stdout.strip()}"


# STYLE.md's two wings: the reading wing (reports, plan, compare, history) works from run.json alone and
# never reaches the measuring wing (workers, runtimes, steps, training, scheduling), not even lazily.
READING_WING = ("bench.report", "bench.plan", "bench.compare", "bench.history")
MEASURING_WING = ("bench.runner", "bench.runsetup", "bench.scheduler", "bench.cells", "bench.artifact_chain",
                  "bench.jobfactory", "bench.jobs", "bench.worker", "bench.launcher", "bench.executors", "bench.fanout",
                  "bench.scenarios", "bench.steps", "bench.runtimes", "bench.train", "bench.surgery",
                  "bench.models", "bench.evaluate", "bench.verify", "bench.artifacts")


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_reading_wing_never_reaches_the_measuring_wing():
    graph = import_graph()
    readers = [m for m in graph if _in(m, READING_WING)]
    assert "bench.report.render" in readers and "bench.compare.judge" in readers
    crossings = {m: sorted(x for x in reachable(graph, m) if _in(x, MEASURING_WING)) for m in readers}
    crossings = {m: xs for m, xs in crossings.items() if xs}
    assert not crossings, f"reading-wing modules reach the measuring wing: {crossings}"


def test_readme_layout_lists_every_module():
    """README's Layout names every module and package of bench/ (and nothing that is not there)."""
    import re

    text = (REPO / "README.md").read_text()
    layout = text[text.index("## Layout"):text.index("## Development")]
    named = set(re.findall(r"bench/[\w/]+(?:\.py|/)", layout))
    on_disk = {f"bench/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*.py")
               if p.parent == PACKAGE and p.name not in ("__init__.py", "__main__.py")}
    on_disk |= {f"bench/{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert named == on_disk, f"missing from README: {sorted(on_disk - named)}; not in bench/: {sorted(named - on_disk)}"


def test_no_function_in_bench_is_over_50_lines():
    """Issue #15's bound (STYLE.md: functions mostly under 30 lines): a longer one is split, not waived."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 50:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})")
    assert not long, f"functions over 50 lines: {long}"
