"""The package reads top-down: no import cycle, and no floor imports a floor above it.

Every module of mimnet_tf (export/ and serving/ included) is parsed with `ast`; every import of
a mimnet_tf module counts, the ones inside functions too (an import moved into a function still
ties the two modules together). The floors, lowest first, are those of docs/architecture.md.
"""
from __future__ import annotations

import ast
import os

import pytest

import mimnet_tf

PACKAGE_DIR = os.path.dirname(mimnet_tf.__file__)

# Lowest floor first. A module belongs to the floor of the longest prefix that names it.
FLOORS = (
    ("basics", ("mimnet_tf", "mimnet_tf.files", "mimnet_tf.images", "mimnet_tf.config", "mimnet_tf.cli",
                "mimnet_tf.flags", "mimnet_tf.machine_load")),
    ("data", ("mimnet_tf.data",)),
    ("layers", ("mimnet_tf.layers", "mimnet_tf.losses")),
    ("models", ("mimnet_tf.models", "mimnet_tf.metrics")),
    ("training", ("mimnet_tf.training",)),
    ("inference", ("mimnet_tf.exported_model", "mimnet_tf.editors", "mimnet_tf.editor", "mimnet_tf.presets")),
    ("apps", ("mimnet_tf.export", "mimnet_tf.serving", "mimnet_tf.train", "mimnet_tf.train_lib",
              "mimnet_tf.edit", "mimnet_tf.edit_lib", "mimnet_tf.evaluate", "mimnet_tf.evaluate_lib",
              "mimnet_tf.benchmark_edits", "mimnet_tf.benchmark_edits_lib", "mimnet_tf.report",
              "mimnet_tf.report_lib", "mimnet_tf.demo", "mimnet_tf.demo_lib", "mimnet_tf.generate",
              "mimnet_tf.generate_lib", "mimnet_tf.pretrain_damsm", "mimnet_tf.pretrain_damsm_lib",
              "mimnet_tf.pretrain_stream", "mimnet_tf.pretrain_stream_lib", "mimnet_tf.ship_model",
              "mimnet_tf.ship_model_lib", "mimnet_tf.testing")),
)
# Export and serving stand beside each other on the apps floor: neither imports the other (what
# both need, the exported model's tensor names and its LiteRT runner, is mimnet_tf.exported_model).
SIBLINGS = ("mimnet_tf.export", "mimnet_tf.serving")


def module_files() -> dict[str, str]:
    """Module name -> file of every module of the package (export and serving are symlinked in)."""
    found = {}
    for folder, subfolders, names in os.walk(PACKAGE_DIR, followlinks=True):
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        for name in names:
            if name.endswith(".py"):
                relative = os.path.relpath(os.path.join(folder, name), os.path.dirname(PACKAGE_DIR))
                module = relative[:-3].replace(os.sep, ".")
                found[module.removesuffix(".__init__")] = os.path.join(folder, name)
    return found


def imported_modules(module: str, path: str, modules: dict[str, str]) -> list[tuple[str, int]]:
    """(mimnet_tf module imported, line) for every import statement of `module`, nested ones too."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    is_package = path.endswith("__init__.py")
    targets = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts[:len(parts) - node.level + (1 if is_package else 0)]
                base = ".".join(parts + ([base] if base else []))
            # `from package import module` imports the module; `from module import name` the module.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "mimnet_tf":
                continue
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]
            if name != module and (name, node.lineno) not in targets:
                targets.append((name, node.lineno))
    return targets


def floor_of(module: str) -> tuple[int, str]:
    best = (-1, "", "")
    for level, (floor, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best[2]):
                best = (level, floor, prefix)
    return best[0], best[1]


def sibling_of(module: str) -> str:
    return next((s for s in SIBLINGS if module == s or module.startswith(s + ".")), "")


def import_graph() -> dict[str, list[tuple[str, int]]]:
    modules = module_files()
    return {module: imported_modules(module, path, modules) for module, path in sorted(modules.items())}


def cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target, _ in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def upward_imports(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    problems = []
    for module, targets in graph.items():
        level, floor = floor_of(module)
        for target, line in targets:
            target_level, target_floor = floor_of(target)
            if target_level > level:
                problems.append(f"{module} (floor {floor}) imports {target} (floor {target_floor}) at line {line}")
            elif sibling_of(module) and sibling_of(target) and sibling_of(module) != sibling_of(target):
                problems.append(f"{module} imports its sibling {target} at line {line}")
    return problems


def test_every_module_is_on_a_floor():
    unplaced = [module for module in import_graph() if floor_of(module)[0] < 0]
    assert not unplaced, f"modules on no floor (add them to FLOORS and docs/architecture.md): {unplaced}"


def test_no_import_cycle():
    graph = import_graph()
    found = cycles(graph)
    described = []
    for component in found:
        members = set(component)
        edges = [f"{m} -> {t} (line {line})" for m in component for t, line in graph[m] if t in members]
        described.append("; ".join(edges))
    assert not found, "import cycles:\n" + "\n".join(described)


def test_no_upward_import():
    problems = upward_imports(import_graph())
    assert not problems, "imports from a lower floor to a higher one:\n" + "\n".join(problems)


@pytest.mark.parametrize("graph, expected", [
    ({"a": [("b", 1)], "b": [("a", 2)], "c": [("a", 3)]}, [["a", "b"]]),
    ({"a": [("b", 1)], "b": [("c", 2)], "c": []}, []),
])
def test_cycles_finds_exactly_the_cycles(graph, expected):
    assert cycles(graph) == expected


def test_upward_imports_names_the_offender():
    graph = {"mimnet_tf.models.mimnet": [("mimnet_tf.training.loop", 25), ("mimnet_tf.layers.blocks", 20)],
             "mimnet_tf.export.tflite": [("mimnet_tf.serving.tflite_edit", 176)]}
    assert upward_imports(graph) == [
        "mimnet_tf.models.mimnet (floor models) imports mimnet_tf.training.loop (floor training) at line 25",
        "mimnet_tf.export.tflite imports its sibling mimnet_tf.serving.tflite_edit at line 176"]
