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
    ("inference", ("mimnet_tf.inference",)),
    ("apps", ("mimnet_tf.apps", "mimnet_tf.export", "mimnet_tf.serving", "mimnet_tf.train", "mimnet_tf.edit",
              "mimnet_tf.evaluate", "mimnet_tf.benchmark_edits", "mimnet_tf.benchmark_generation", "mimnet_tf.report",
              "mimnet_tf.demo", "mimnet_tf.generate", "mimnet_tf.pretrain_damsm", "mimnet_tf.pretrain_stream",
              "mimnet_tf.ship_model", "mimnet_tf.testing")),
)
# Export and serving stand beside each other on the apps floor: neither imports the other (what
# both need, the exported model's tensor names and its LiteRT runner, is mimnet_tf.inference.exported_model).
SIBLINGS = ("mimnet_tf.export", "mimnet_tf.serving")
# Slow to import, or optional for most commands: the one reason to import inside a function.
HEAVY = ("tensorflow", "keras", "tensorflow_text", "tensorflow_serving", "tf2onnx", "onnx", "onnxruntime",
         "ai_edge_litert", "h5py", "scipy", "grpc", "google.protobuf")


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


def import_statements(module: str, path: str, modules: dict[str, str]) -> list[tuple[str, int, bool]]:
    """(module imported, line, inside a function?) for every import statement of `module`.

    A mimnet_tf import is resolved to the module it loads (`from mimnet_tf.data import text` is
    mimnet_tf.data.text); any other import is kept as written.
    """
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    is_package = path.endswith("__init__.py")
    found = []

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for name in _names(child):
                    if name != module and (name, child.lineno, nested) not in found:
                        found.append((name, child.lineno, nested))
            visit(child, nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    def _names(node):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts[:len(parts) - node.level + (1 if is_package else 0)]
                base = ".".join(parts + ([base] if base else []))
            # `from package import module` imports the module; `from module import name` the module.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        resolved = []
        for name in names:
            if name.split(".")[0] == "mimnet_tf":
                while name not in modules and "." in name:
                    name = name.rsplit(".", 1)[0]
            resolved.append(name)
        return resolved

    visit(tree, False)
    return found


def imported_modules(module: str, path: str, modules: dict[str, str]) -> list[tuple[str, int]]:
    """(mimnet_tf module imported, line) for every import statement of `module`, nested ones too."""
    return [(name, line) for name, line, _ in import_statements(module, path, modules)
            if name.split(".")[0] == "mimnet_tf"]


def floor_of(module: str) -> tuple[int, str]:
    best = (-1, "", "")
    for level, (floor, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best[2]):
                best = (level, floor, prefix)
    return best[0], best[1]


def sibling_of(module: str) -> str:
    return next((s for s in SIBLINGS if module == s or module.startswith(s + ".")), "")


def entry_module(module: str) -> bool:
    """An app at the package root that is not a library (`edit`, not `edit_lib`): its main()
    imports the library, so that --help and a bad flag answer before numpy or TensorFlow load."""
    return floor_of(module)[1] == "apps" and module.count(".") == 1 and not module.endswith("_lib") \
        and module != "mimnet_tf.testing"


def heavy_part(name: str) -> str:
    return next((h for h in HEAVY if name == h or name.startswith(h + ".")), "")


def nested_imports_without_reason(statements: dict[str, list[tuple[str, int, bool]]]) -> list[str]:
    """Imports inside functions that load nothing heavy the module does not already load."""
    loads: dict[str, frozenset] = {}

    def heavy_loaded(module: str) -> frozenset:  # heavy dependencies importing `module` loads
        if module not in loads:
            loads[module] = frozenset()  # a cycle is reported by test_no_import_cycle
            found = set()
            parent = module.rsplit(".", 1)[0] if "." in module else ""
            for name, _, nested in statements[module] + ([(parent, 0, False)] if parent in statements else []):
                if nested:
                    continue
                if name in statements:
                    found |= heavy_loaded(name)
                elif heavy_part(name):
                    found.add(heavy_part(name))
            loads[module] = frozenset(found)
        return loads[module]

    problems = []
    for module, found in statements.items():
        if entry_module(module):
            continue
        top = {name for name, _, nested in found if not nested}
        for name, line, nested in found:
            if not nested:
                continue
            if name in statements:
                reason = heavy_loaded(name) - heavy_loaded(module)
            else:
                reason = heavy_part(name) and name not in top
            if not reason:
                problems.append(f"{module} imports {name} inside a function at line {line}")
    return problems


def all_import_statements() -> dict[str, list[tuple[str, int, bool]]]:
    modules = module_files()
    return {module: import_statements(module, path, modules) for module, path in sorted(modules.items())}


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


def test_imports_inside_functions_only_defer_a_heavy_dependency():
    problems = nested_imports_without_reason(all_import_statements())
    assert not problems, ("imports inside functions that defer nothing heavy (move them to the top; see "
                          "docs/architecture.md):\n" + "\n".join(problems))


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


def test_nested_imports_without_reason_tells_a_deferred_dependency_from_a_hidden_one():
    statements = {
        "mimnet_tf.inference.editors": [("numpy", 1, False), ("tensorflow", 40, True), ("mimnet_tf.models.builder", 41, True),
                              ("mimnet_tf.images", 42, True)],
        "mimnet_tf.models.builder": [("tensorflow", 3, False), ("tensorflow", 4, True), ("keras", 5, True)],
        "mimnet_tf.images": [("numpy", 1, False), ("PIL", 2, False)],
        "mimnet_tf.edit": [("mimnet_tf.apps.edit_lib", 30, True)],
        "mimnet_tf.apps.edit_lib": [("mimnet_tf.images", 3, False)],
    }
    assert nested_imports_without_reason(statements) == [
        "mimnet_tf.inference.editors imports mimnet_tf.images inside a function at line 42",
        "mimnet_tf.models.builder imports tensorflow inside a function at line 4"]
