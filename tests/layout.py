"""The project's layout, read from the source (nothing is imported): which
module imports which, counting imports inside functions, and how long modules
and functions are. tests/test_layout.py holds the rules; this module only
measures. ``python -m tests.layout`` prints what it finds.

The apps are the top-level packages pyproject.toml ships
(``[tool.setuptools.packages.find] include``), so a new app is covered as soon
as it can be installed. Migrations are left out everywhere; tests and the
benchmark are not apps, so they are not read at all.
"""
from __future__ import annotations

import ast
import fnmatch
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

# The project's URL roots and its settings gather every app by design; their
# imports do not make two apps depend on each other.
ROOT_MODULES = ("releasemgmt.urls", "releasemgmt.api_urls", "releasemgmt.settings")

# Calls that import the module named by their first (literal) argument.
IMPORTING_CALLS = {"import_module", "__import__"}


def app_names(root: Path = ROOT) -> list[str]:
    """The top-level packages under ``root`` that pyproject.toml includes."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(path.name for path in root.iterdir()
                  if (path / "__init__.py").is_file()
                  and any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns))


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    lines: int


@dataclass
class Project:
    modules: dict[str, Module]
    imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_project(root: Path = ROOT, apps: list[str] | None = None) -> Project:
    apps = app_names(root) if apps is None else apps
    modules = {}
    for app in apps:
        for path in sorted((root / app).rglob("*.py")):
            if "migrations" in path.relative_to(root).parts:
                continue
            source = path.read_text()
            name = _module_name(root, path)
            modules[name] = Module(name, path, path.name == "__init__.py", ast.parse(source, str(path)),
                                   len(source.splitlines()))
    project = Project(modules)
    for module in modules.values():
        for target in imported_by(module, modules):
            if target != module.name:
                project.imports[module.name].add(target)
    return project


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    """The package a ``from ... import`` reads from, relative dots resolved."""
    if not node.level:
        return node.module or ""
    parts = module.name.split(".")
    if not module.is_package:
        parts = parts[:-1]  # a plain module's "." is its package
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _known(name: str, modules) -> str | None:
    """``name`` if it is a project module, else the longest project module it
    is inside of (``releases.models.Release`` -> ``releases.models``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imported_by(module: Module, modules) -> set[str]:
    """Every project module ``module`` imports, wherever the import stands
    (top level, inside functions, under ``if TYPE_CHECKING``), and modules
    named literally to ``importlib.import_module``/``__import__``.

    ``import a.b as c`` imports ``a.b``; ``from a import b`` imports ``a.b``
    when b is a submodule, else ``a`` (b is a name defined there); parent
    packages, which Python initialises first whatever is imported, are not
    counted as imports of their own."""
    found = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(_known(alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            base = _absolute(module, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}" if base else alias.name
                found.add(submodule if alias.name != "*" and submodule in modules else _known(base, modules))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if called in IMPORTING_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(_known(first.value, modules))
    found.discard(None)
    return found


# --- the measures ----------------------------------------------------------------------------------------------


def _strongly_connected(graph: dict[str, set[str]], nodes) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of two or more modules
    that reach each other."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def _shortest_cycle(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """One shortest cycle through the group's first module, to show."""
    members = set(group)
    start = group[0]
    came_from = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph.get(node, ())):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while came_from[path[-1]] is not None:
                        path.append(came_from[path[-1]])
                    return list(reversed(path)) + [start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    return group


def import_cycles(project: Project) -> list[str]:
    """Each group of modules importing each other, with one cycle spelled out."""
    found = []
    for group in _strongly_connected(project.imports, project.modules):
        cycle = " -> ".join(_shortest_cycle(project.imports, group))
        found.append(f"{len(group)} modules: {', '.join(group)}\n    e.g. {cycle}")
    return found


def _app(name: str) -> str:
    return name.split(".")[0]


def _is_root(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in ROOT_MODULES)


def app_imports(project: Project) -> dict[tuple[str, str], list[str]]:
    """(importing app, imported app) -> the module imports behind it, the URL roots and settings aside."""
    pairs = defaultdict(list)
    for source, targets in project.imports.items():
        if _is_root(source):
            continue
        for target in targets:
            if _app(source) != _app(target):
                pairs[(_app(source), _app(target))].append(f"{source} -> {target}")
    return {pair: sorted(lines) for pair, lines in sorted(pairs.items())}


def mutual_app_imports(project: Project) -> list[str]:
    pairs = app_imports(project)
    found = []
    for (a, b), lines in pairs.items():
        if a < b and (b, a) in pairs:
            found.append(f"{a} <-> {b}\n    " + "\n    ".join(lines + pairs[(b, a)]))
    return found


# The direction the apps depend in, lowest first: an app may import apps of
# its own layer's lower layers only. The ground imports no app; change
# management and the CMDB know nothing of releases; the concerns build on the
# release process, which never imports them; notifications attach the
# calendar to what they send, so they sit above it.
LAYERS = (("releasemgmt",), ("changes", "cmdb", "sso"), ("releases",), ("evidence",), ("calendars", "reports", "audit", "pipelines"), ("notifications",),
          ("webhooks",))


def upward_app_imports(project: Project, layers=LAYERS) -> list[str]:
    """Imports from an app into an app of a higher layer (or of its own
    layer: siblings stay independent), URL roots and settings aside. An app
    missing from ``layers`` is reported too, so a new app gets a place."""
    rank = {app: i for i, layer in enumerate(layers) for app in layer}
    found = [f"{app}: not placed in a layer" for app in sorted({_app(name) for name in project.modules} - set(rank))]
    for (a, b), lines in sorted(app_imports(project).items()):
        if a in rank and b in rank and rank[b] >= rank[a]:
            found.append(f"{a} -> {b}\n    " + "\n    ".join(lines))
    return found


def long_modules(project: Project, limit: int = MAX_MODULE_LINES) -> list[str]:
    return [f"{module.name} ({module.lines} lines)" for module in project.modules.values() if module.lines > limit]


def long_functions(project: Project, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    found = []
    for module in project.modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{module.name}.{node.name} at line {node.lineno} ({length} lines)")
    return sorted(found)


def report(found: list[str], what: str) -> str:
    return f"{len(found)} {what}:\n  " + "\n  ".join(found)


if __name__ == "__main__":
    project = read_project()
    print("apps:", ", ".join(app_names()))
    print(report(import_cycles(project), "import cycles (imports inside functions counted)"))
    print(report(mutual_app_imports(project), "pairs of apps importing each other"))
    print(report(long_modules(project), f"modules over {MAX_MODULE_LINES} lines"))
    print(report(long_functions(project), f"functions over {MAX_FUNCTION_LINES} lines"))
