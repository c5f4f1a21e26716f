"""The package's one-way layers: a module imports only modules of its own layer or of a
lower one, and no two modules import each other, directly or through others. Imports inside
functions count as much as those at the top of a module."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "scripts" / "netmob_cpc"

# Lowest first. A new module is placed here, or this test fails.
LAYERS = [
    {"files"},
    {"codes", "config", "provenance"},
    {"traffic_files", "tile_map", "qc", "crime", "synthetic", "rates", "rankstats", "publication"},
    {"series", "estimates", "heatmaps", "ranking"},
    {"statistics"},
    {"sensitivity", "simulation", "figures", "falsification", "inference", "count_models", "placebo"},
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def package_imports(source):
    """Package modules a module's source imports (names such as 'estimates')."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x / from .x import y
                found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif node.module and node.module.split(".")[0] == "netmob_cpc":
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "netmob_cpc" and len(parts) > 1:
                    found.add(parts[1])
    return found


def import_graph():
    return {
        path.stem: package_imports(path.read_text()) - {path.stem}
        for path in sorted(PACKAGE.glob("*.py"))
        if path.stem != "__init__"
    }


def cycles(graph):
    """Every module that lies on an import circle."""
    on_cycle = set()
    for start in graph:
        stack, seen = [start], set()
        while stack:
            for nxt in graph.get(stack.pop(), ()):
                if nxt == start:
                    on_cycle.add(start)
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    return on_cycle


def test_every_module_is_placed_in_a_layer():
    assert set(import_graph()) - set(LAYER) == set()


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{module} (layer {LAYER[module]}) imports {target} (layer {LAYER[target]})"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if LAYER[target] > LAYER[module]
    ]
    assert upward == []


def test_no_import_circle():
    assert cycles(import_graph()) == set()


def test_the_checks_catch_what_they_are_for():
    """The checker itself: an upward import and a circle, in made-up sources."""
    assert package_imports("def f():\n    from netmob_cpc.statistics import x\n") == {"statistics"}
    assert package_imports("from . import rates\nfrom .codes import y\n") == {"rates", "codes"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {"a", "b", "c"}
    assert cycles({"a": {"b"}, "b": set()}) == set()
