"""The import graph is layered: helpers at the bottom, the loop above them, the report above the saved files, the
entry points on top (``DESIGN.md``, "One schema").

Every module's imports are read with :mod:`ast` (imports inside functions included: a lazy import hides a cycle, it
does not remove it) and mapped to the package's *units*: a subpackage (``harness.metrics``) or a top-level module
(``harness.entry.run``). No two units may import each other, directly or round a longer loop, and only the entry points
build the report.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).parent

#: The units that may import ``harness.report``: the front ends that build a report once the results are saved
#: (a run, a sweep's collection). The loop, the store and everything below them never do.
REPORT_IMPORTERS = {"harness.entry"}


def module_names() -> dict[str, Path]:
    """Dotted name → file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # ``from harness.report import style`` imports the module harness.report.style
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known}


def unit(name: str) -> str:
    """``harness.report.build`` → ``harness.report``; ``harness.entry.run`` → ``harness.entry.run``; ``harness`` → ``harness``."""
    return ".".join(name.split(".")[:2])


def module_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports."""
    modules = module_names()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def unit_graph() -> dict[tuple[str, str], list[str]]:
    """``(unit, imported unit)`` → the module-level imports behind that arrow, ``importer -> imported``."""
    arrows = defaultdict(list)
    for name, imported in module_graph().items():
        for target in sorted(imported):
            if unit(name) != unit(target):
                arrows[(unit(name), unit(target))].append(f"{name} -> {target}")
    return dict(arrows)


def find_cycle(edges) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of the directed graph ``edges`` (pairs), or None."""
    after = defaultdict(set)
    for a, b in edges:
        after[a].add(b)
    state: dict[str, int] = {}  # 1: on the current path, 2: finished

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(after[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(after):
        if start not in state and (cycle := visit(start, [])):
            return cycle
    return None


def describe(cycle: list[str], arrows: dict[tuple[str, str], list[str]]) -> str:
    """The cycle and, for each of its arrows, the imports that make it."""
    lines = [" -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:]):
        lines.append(f"  {a} -> {b}: " + "; ".join(arrows.get((a, b), [f"{a} -> {b}"])))
    return "\n".join(lines)


def test_cycle_finder_knows_a_cycle_from_a_tree():
    assert find_cycle([("a", "b"), ("b", "c"), ("a", "c")]) is None
    assert find_cycle([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == ["a", "b", "c", "a"]
    assert find_cycle([("x", "a"), ("a", "b"), ("b", "a")]) == ["a", "b", "a"]


def test_lazy_and_relative_imports_are_read(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text("from . import b\n\ndef f():\n    from harness.metrics import registry\n    import harness.c\n")
    known = {"harness.a.b", "harness.metrics", "harness.metrics.registry", "harness.c"}
    assert imports_of("harness.a.mod", path, known) == {"harness.a.b", "harness.metrics.registry", "harness.c"}


def test_no_import_cycle_between_units():
    arrows = unit_graph()
    cycle = find_cycle(arrows)
    assert cycle is None, "import cycle between units of the package:\n" + describe(cycle, arrows)


def test_no_import_cycle_between_modules():
    graph = module_graph()
    cycle = find_cycle((a, b) for a, targets in graph.items() for b in targets)
    assert cycle is None, "import cycle between modules:\n" + " -> ".join(cycle)


def test_only_entry_points_import_the_report():
    importers = {a: lines for (a, b), lines in unit_graph().items() if b == "harness.report"}
    extra = {a: lines for a, lines in importers.items() if a not in REPORT_IMPORTERS}
    assert not extra, "harness.report is imported below the entry points:\n" + "\n".join(
        f"  {a}: {'; '.join(lines)}" for a, lines in sorted(extra.items()))


#: The package's units from the bottom floor up: a unit imports only units on floors below its own.
FLOORS = [
    {"harness._version", "harness.common"},
    {"harness.configs", "harness.data", "harness.attribution", "harness.metrics"},
    {"harness.models", "harness.results"},
    {"harness.perturbations"},
    {"harness.report", "harness.loop"},
    {"harness.entry"},
    {"harness", "harness.__main__", "harness.collect_sweep", "harness.bench"},
]
#: The only modules loose at the top of the package: its front doors (``import harness``, ``python -m harness``,
#: ``python -m harness.collect_sweep``) and the version.
FRONT_DOORS = {"__init__.py", "__main__.py", "_version.py", "collect_sweep.py"}


def test_every_import_points_down():
    floor = {u: i for i, units in enumerate(FLOORS) for u in units}
    units = {unit(m) for m in module_names()}
    assert units <= set(floor), f"place these units on a floor of FLOORS: {sorted(units - set(floor))}"
    up = [f"{a} -> {b}: {lines[0]}" for (a, b), lines in unit_graph().items() if floor[a] <= floor[b]]
    assert not up, "imports that do not point to a lower floor:\n" + "\n".join(sorted(up))


def test_nothing_loose_at_the_top():
    loose = {p.name for p in PACKAGE.glob("*.py")} - FRONT_DOORS
    assert not loose, f"modules loose at the top of the package (move each into its stage): {sorted(loose)}"
