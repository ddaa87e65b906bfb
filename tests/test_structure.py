"""The shape of the package: no import cycles, layers that do not reach up, private names that stay home.

Read from the source with ``ast`` (nothing is imported): an edge ``a -> b`` is an import of evio module
``b`` by ``a``; importing ``evio.x.y`` also imports the package ``evio.x`` (unless ``a`` lies inside it).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "evio"

#: Imports inside functions that may close a cycle: the registry loads the built-in formats on first
#: use, and every format module declares its ``FormatSpec`` with the registry.
LAZY_CYCLE_EDGES = {("evio.registry", "evio.formats")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in MODULES.items()}


def _imports(tree, lazy: bool):
    """Import statements run when the module is imported (``lazy``: also those inside functions)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if not lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(name: str, node) -> list[tuple[str, str | None]]:
    """``(module, attribute or None)`` per name the import binds: ``from p import m`` of a module ``p.m``
    is ``("p.m", None)``, of anything else ``("p", "m")``."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    base = node.module or ""
    if node.level:
        package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append((sub, None) if sub in MODULES else (base, alias.name))
    return out


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_graph(lazy: bool) -> dict[str, set[str]]:
    graph = {}
    for name, tree in TREES.items():
        edges = set()
        for node in _imports(tree, lazy):
            for target, _ in _targets(name, node):
                if target in MODULES:
                    edges |= {t for t in {target} | _ancestors(target) if t != name and t not in _ancestors(name)}
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_at_module_level():
    assert cycles(import_graph(lazy=False)) == []


def test_no_import_cycle_hidden_in_a_function():
    graph = import_graph(lazy=True)
    for a, b in LAZY_CYCLE_EDGES:
        assert b in graph[a], f"{a} no longer imports {b}: drop the exception"
        graph[a].discard(b)
    assert cycles(graph) == []


@pytest.mark.parametrize("module, forbidden", [
    ("evio.api", "evio.datasets"),       # the core API does not depend on the dataset helpers
    ("evio.image.odg", "evio.formats"),  # the ODG generator does not depend on file formats
])
def test_layers(module, forbidden):
    reached = {t for node in _imports(TREES[module], lazy=True) for t, _ in _targets(module, node)}
    assert not [t for t in reached if t == forbidden or t.startswith(forbidden + ".")]


def _private_uses():
    """``(module, line, other module, name)`` where a module uses a private name of another module that
    is not internal itself (internal modules, ``_name.py``, hold the helpers several modules share)."""
    out = []
    for name, tree in TREES.items():
        bound = {}
        for node in _imports(tree, lazy=True):
            for alias, (target, attr) in zip(node.names, _targets(name, node)):
                if not target.startswith("evio"):
                    continue
                if isinstance(node, ast.Import) and alias.asname is None:
                    bound[target.split(".")[0]] = target.split(".")[0]
                elif attr is None:
                    bound[alias.asname or alias.name] = target
                elif attr.startswith("_"):
                    out.append((name, node.lineno, target, attr))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                out.append((name, node.lineno, bound[node.value.id], node.attr))
    return [use for use in out if use[2] != use[0] and not use[2].rpartition(".")[2].startswith("_")]


def test_private_names_stay_in_their_module():
    assert _private_uses() == []
