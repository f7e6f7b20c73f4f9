"""The import graph of the library and the benchmarks: no import cycle, no other package's private
module.

The graph is read from the source with `ast` (nothing is imported). Every `import` statement is an
edge, including imports inside functions (they still make one module depend on another; a cycle
hidden behind a function-level import is still a cycle), except those under `if TYPE_CHECKING:`.

`from factory_mlops.x import y` resolves `y` the way Python does: an edge to the submodule
`factory_mlops.x.y` when that module exists, otherwise to the package `factory_mlops.x` (its
`__init__`, where the name `y` lives). Importing `a.b.c` also runs the `__init__` of `a` and
`a.b`; those edges are added except for the importer's own enclosing packages, which are always
already being imported when the importer runs (so a package `__init__` importing its submodules
is no cycle, unless a submodule imports a name back through that `__init__`).

Every module of `factory_mlops` and of the checkout's top-level `benchmarks` package is in the
cycle check, `orchestration` included (an import from a core package into `orchestration` would
show up as a cycle or in the orchestration check below). The private-module check covers both: the
benchmarks use the library's public names (their own `benchmarks._x` modules are one unit and free
to import each other). The library never imports the benchmarks (they are not in the wheel). The
tests themselves are not checked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "factory_mlops"
#: The benchmarks: a top-level package of the checkout, not in the wheel; one unit (see `package_of`).
BENCHMARKS = "benchmarks"
#: The top-level packages whose modules are in the graph.
PACKAGES = (PACKAGE, BENCHMARKS)


@dataclass(frozen=True)
class Import:
    importer: str  # module name of the importing file
    target: str  # module the statement names (`from target import ...` / `import target`)
    names: tuple[str, ...]  # the names of `from target import names` (empty for `import target`)
    line: int


@cache
def modules() -> dict[str, Path]:
    """Every module of the library and the benchmarks by dotted name (packages by their `__init__`)."""
    found: dict[str, Path] = {}
    for path in sorted(p for top in PACKAGES for p in (ROOT / top).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def is_package(module: str) -> bool:
    return modules()[module].name == "__init__.py"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, skipping the body of `if TYPE_CHECKING:` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes_of(other)
            continue
        yield from _import_nodes_of(child)


def _import_nodes_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _import_nodes(node)


@cache
def imports() -> tuple[Import, ...]:
    """Every import statement of the library and the benchmarks naming one of their modules."""
    found: list[Import] = []
    for module, path in modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _import_nodes(tree):
            if isinstance(node, ast.Import):
                found.extend(
                    Import(module, alias.name, (), node.lineno)
                    for alias in node.names
                    if alias.name.split(".")[0] in PACKAGES
                )
                continue
            if node.level:  # relative: resolve against the importer's package
                base = module.split(".") if is_package(module) else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] in PACKAGES:
                found.append(Import(module, target, tuple(a.name for a in node.names), node.lineno))
    return tuple(found)


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def dependencies(imp: Import) -> set[str]:
    """The modules an import statement runs (or needs to have run), resolved as Python does."""
    known = modules()
    own = {*_ancestors(imp.importer), imp.importer}
    deps = {a for a in _ancestors(imp.target) if a not in own}
    if imp.target not in own:
        deps.add(imp.target)
    for name in imp.names:
        sub = f"{imp.target}.{name}"
        # a submodule is imported; a name is read from the target's namespace, which needs the
        # target run, even when it is the importer's own package (a name taken back through
        # its __init__)
        deps.add(sub if sub in known else imp.target)
    deps.discard(imp.importer)
    return {d for d in deps if d in known}


@cache
def graph() -> dict[str, frozenset[str]]:
    edges: dict[str, set[str]] = {m: set() for m in modules()}
    for imp in imports():
        edges[imp.importer] |= dependencies(imp)
    return {m: frozenset(d) for m, d in edges.items()}


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return sorted(found)


def one_loop(component: list[str], edges: dict[str, frozenset[str]]) -> list[str]:
    """A shortest loop through the component's first module (to show in a failure)."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges[node] & members):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return component


def package_of(module: str) -> str:
    """The unit a module belongs to: `factory_mlops.<pkg>` (or the top module itself), or
    `benchmarks` for every module of the benchmarks."""
    if module.split(".")[0] == BENCHMARKS:
        return BENCHMARKS
    return ".".join(module.split(".")[:2])


def is_private(module: str) -> bool:
    return any(p.startswith("_") and not p.startswith("__") for p in module.split(".")[1:])


def private_imports() -> list[tuple[str, int, str]]:
    """(importer, line, private module) for each import of another package's `_private` module."""
    known = modules()
    found = {
        (imp.importer, imp.line, dep)
        for imp in imports()
        for dep in {imp.target} | {f"{imp.target}.{n}" for n in imp.names}
        if dep in known and is_private(dep) and package_of(dep) != package_of(imp.importer)
    }
    return sorted(found)


def _where(importer: str, line: int) -> str:
    return f"{modules()[importer].relative_to(ROOT)}:{line}"


def test_the_graph_is_read() -> None:
    # guards the checks below from passing on an empty graph
    edges = graph()
    assert len(edges) > 100
    assert "factory_mlops.ingest._lake" in edges["factory_mlops.ingest"]
    assert "factory_mlops.home" in edges["factory_mlops.ingest._lake"]
    assert "benchmarks._machine" in edges["benchmarks._policies"]
    assert "factory_mlops.monitoring" in edges["benchmarks._monitoring"]


def test_no_import_cycle_in_the_library() -> None:
    edges = graph()
    loops = [" -> ".join(one_loop(c, edges)) for c in cycles(edges)]
    assert not loops, "import cycles (function-level imports count too):\n" + "\n".join(loops)


def test_no_package_imports_another_packages_private_module() -> None:
    # the benchmarks included: they measure the product through its public names
    found = [f"{_where(importer, line)} -> {dep}" for importer, line, dep in private_imports()]
    assert not found, "import the package's public names instead:\n" + "\n".join(found)


def test_the_benchmarks_import_each_other_freely_but_no_private_library_module() -> None:
    assert package_of("benchmarks._policies") == package_of("benchmarks._machine") == BENCHMARKS
    assert any(imp.importer.startswith(f"{BENCHMARKS}.") for imp in imports())
    imp = Import("benchmarks._policies", "factory_mlops.pipeline._signals", ("failure_types",), 1)
    assert is_private(imp.target) and package_of(imp.target) != package_of(imp.importer)


def test_the_library_never_imports_the_benchmarks() -> None:
    # benchmarks/ is not in the wheel; the CLI finds a checkout's copy at run time (no import line)
    found = sorted(
        f"{_where(imp.importer, imp.line)} -> {imp.target}"
        for imp in imports()
        if package_of(imp.importer) != BENCHMARKS and imp.target.split(".")[0] == BENCHMARKS
    )
    assert not found, "\n".join(found)


def test_only_the_cli_and_the_benchmarks_import_the_orchestration_layer() -> None:
    # the library's stages know nothing of Dagster's definitions; the orchestration layer calls them
    allowed = ("factory_mlops.orchestration", "factory_mlops.cli", BENCHMARKS)
    found = sorted(
        f"{_where(imp.importer, imp.line)} -> {dep}"
        for imp in imports()
        for dep in dependencies(imp)
        if package_of(dep) == "factory_mlops.orchestration"
        and package_of(imp.importer) not in allowed
    )
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a submodule named in `from pkg import sub`: the submodule, after pkg's __init__
        (
            "from factory_mlops.ingest import _lake",
            {"factory_mlops.ingest", "factory_mlops.ingest._lake"},
        ),
        # a name: the package __init__ that defines (or re-exports) it
        ("from factory_mlops.ingest import Lake", {"factory_mlops.ingest"}),
        # a private module of another package runs that package's __init__ first
        (
            "from factory_mlops.ingest._lake import Lake",
            {"factory_mlops.ingest", "factory_mlops.ingest._lake"},
        ),
    ],
)
def test_imports_resolve_like_python(source: str, expected: set[str]) -> None:
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ImportFrom)
    imp = Import(
        "factory_mlops.audit._log", node.module or "", tuple(a.name for a in node.names), 1
    )
    assert dependencies(imp) == expected


def test_a_package_init_importing_its_submodules_is_no_cycle() -> None:
    # a sibling import runs no __init__ (the importer's package is already being imported) ...
    sibling = Import("factory_mlops.ingest._lake", "factory_mlops.ingest._store", ("X",), 1)
    assert dependencies(sibling) == {"factory_mlops.ingest._store"}
    named = Import("factory_mlops.ingest._lake", "factory_mlops.ingest", ("_store",), 1)
    assert dependencies(named) == {"factory_mlops.ingest._store"}
    # ... but a name taken back through the package's own __init__ depends on it
    back = Import("factory_mlops.ingest._lake", "factory_mlops.ingest", ("ReadingsStore",), 1)
    assert dependencies(back) == {"factory_mlops.ingest"}


def test_private_means_an_underscore_module_below_the_top_package() -> None:
    assert is_private("factory_mlops.monitoring._drift")
    assert is_private("factory_mlops.monitoring.sub._x")
    assert is_private("benchmarks._policies")
    assert not is_private("factory_mlops.monitoring")
    assert not is_private("factory_mlops.orchestration.tags")
    assert not is_private("factory_mlops.__main__")


def test_type_checking_imports_are_no_edges() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from factory_mlops.a import b\n"
        "def f():\n    from factory_mlops.c import d\n"
    )
    assert [n.module for n in _import_nodes(tree)] == ["typing", "factory_mlops.c"]


def test_cycles_finds_a_loop() -> None:
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    assert cycles(edges) == [["a", "b", "c"]]
    assert one_loop(["a", "b", "c"], edges) == ["a", "b", "c", "a"]
