"""The architecture checks behind tests/test_architecture.py, read from the code by an AST walk.

Every checker takes the package's folder (`escalation/`, or a small fake package a test builds in
`tmp_path`) and returns its violations as readable lines, so a test can print them all and a
fake package can prove each check fails.

Imports count wherever they are written (module level or inside a function: a lazy import is
still a dependency), except under `if TYPE_CHECKING:`, which never runs.
`importlib.import_module("a.b")` with a literal name counts as an import of `a.b`.
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

# --- reading the package ---------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "escalation.rules.workdays"
    path: Path
    relative: Path  # inside the package folder, e.g. rules/workdays.py
    tree: ast.Module
    is_package: bool  # an __init__.py


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # dotted; a module of the package where it names one, else as written
    line: int
    lazy: bool  # inside a function


@functools.cache  # parsed once per test process (the real package is read by four tests)
def read_package(root: Path) -> dict[str, Module]:
    """Every .py file under `root` (a package folder) by dotted module name; do not change it."""
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        parts = [root.name, *relative.with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        modules[name] = Module(name, path, relative, tree, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, bool]]:
    """Every node that runs (not the body of `if TYPE_CHECKING:`), parents before children, and
    whether it is inside a function."""
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, lazy = stack.pop()
        if node is not tree:
            yield node, lazy
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children = [node.test, *node.orelse]
        else:
            children = list(ast.iter_child_nodes(node))
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        stack.extend((child, inner) for child in reversed(children))


def _base_package(module: Module, level: int) -> str:
    parts = module.name.split(".")
    if not module.is_package:
        parts.pop()
    return ".".join(parts[: len(parts) - (level - 1)] if level > 1 else parts)


def imports(module: Module, known: set[str]) -> list[Import]:
    """What `module` imports; `from a import b` is `a.b` when that is a module in `known`."""
    found: list[Import] = []
    for node, lazy in _walk(module.tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _base_package(module, node.level)
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                names.append(candidate if candidate in known else base)
        elif (
            isinstance(node, ast.Call)
            and _called_name(node.func) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        line = getattr(node, "lineno", 0)
        found.extend(Import(module.name, name, line, lazy) for name in dict.fromkeys(names))
    return found


def _called_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def all_imports(root: Path) -> tuple[dict[str, Module], list[Import]]:
    modules = read_package(root)
    known = set(modules)
    return modules, [found for module in modules.values() for found in imports(module, known)]


def _aliases(module: Module) -> dict[str, str]:
    """Local name -> the qualified name it stands for (`from datetime import datetime as dt`
    gives dt -> datetime.datetime)."""
    aliases: dict[str, str] = {}
    for node, _ in _walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def qualified_names(module: Module) -> Iterator[tuple[str, int, bool]]:
    """Each dotted name the module reads (`datetime.now`, `os.environ.get`) and each of its
    prefixes (`os.environ`), spelled as what it stands for (`datetime.datetime.now` after
    `from datetime import datetime`), with its line and whether that piece was reached through
    an attribute (`sa.select`) rather than a name imported as it is (`select`)."""
    aliases = _aliases(module)
    inner: set[int] = set()
    for node, _ in _walk(module.tree):
        if id(node) in inner or not isinstance(node, ast.Attribute | ast.Name):
            continue
        chain: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            chain.append(current.attr)
            inner.add(id(current.value))
            current = current.value
        if not isinstance(current, ast.Name) or current.id not in aliases:
            continue
        bound = aliases[current.id].split(".")
        pieces = [*bound, *reversed(chain)]
        for end in range(1, len(pieces) + 1):
            yield ".".join(pieces[:end]), node.lineno, end > len(bound)


def _inside(name: str, prefixes: tuple[str, ...] | set[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


# --- a. the rules are pure -------------------------------------------------------------------

IMPURE_LIBRARIES = (
    "sqlalchemy",
    "alembic",
    "aiosmtplib",
    "smtplib",
    "apscheduler",
    "fastapi",
    "starlette",
    "uvicorn",
    "psycopg",
    "jinja2",
    "matplotlib",
)
# parts of the package the rules must not reach (relative to the package's name)
IMPURE_PARTS = (
    "casework",
    "mail",
    "reports",
    "web",
    "cli",
    "jobs",
    "scheduler",
    "wiring",
    "config",
)
# reading the clock or the environment: time is a value, settings come from config
CLOCK_AND_ENVIRONMENT = (
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
    "time.time",
    "os.environ",
    "os.getenv",
)


def rules_purity_violations(root: Path, rules: str = "rules") -> list[str]:
    modules, found = all_imports(root)
    rules_package = f"{root.name}.{rules}"
    forbidden = tuple(IMPURE_LIBRARIES) + tuple(f"{root.name}.{part}" for part in IMPURE_PARTS)
    violations = [
        f"{each.importer} -> {each.imported} (line {each.line})"
        for each in found
        if _inside(each.importer, (rules_package,)) and _inside(each.imported, forbidden)
    ]
    for module in modules.values():
        if not _inside(module.name, (rules_package,)):
            continue
        reads = {
            (name, line)
            for name, line, _ in qualified_names(module)
            if name in CLOCK_AND_ENVIRONMENT
        }
        violations.extend(
            f"{module.name}:{line} reads {name}" for name, line in sorted(reads, key=_by_line)
        )
    return violations


def _by_line(item: tuple[str, int]) -> tuple[int, str]:
    return item[1], item[0]


# --- b. the parts import only downward -------------------------------------------------------

FOUNDATIONS = {"config", "errors", "resources", "failures"}
ORCHESTRATORS = {"jobs", "scheduler", "demo", "wiring"}
EVERYTHING = "*"
# importer part -> the parts it may import (its own part always)
ALLOWED: dict[str, set[str]] = {
    # resources only says where the shipped protocol files are: no clock, no environment.
    "rules": {"errors", "resources"},
    "casework": {"rules", "errors", "resources", "config"},
    "mail": {"casework", "rules", "errors", "resources", "config"},
    "reports": {"casework", "rules", "errors", "resources", "config"},
    "web": {"casework", "mail", "reports", "rules", "errors", "resources", "config"}
    | {"failures", "wiring"},
    "cli": {EVERYTHING},
    "__main__": {EVERYTHING},  # `python -m escalation`: runs the CLI
    **{part: {EVERYTHING} for part in ORCHESTRATORS},  # but not cli or web, below
    **{part: FOUNDATIONS - {part} for part in FOUNDATIONS},
    "": set(),  # the package's __init__ (its version): imports nothing of the package
}
NOT_FOR_ORCHESTRATORS = {"cli", "web"}
# Exactly one module an orchestrator may import from the parts above it: the nightly jobs prune
# expired sign-in sessions, whose SQL lives in web.store.
ALLOWED_EXCEPTIONS = {("jobs", "web.store")}


def part_of(name: str, package: str) -> str:
    """rules, casework, ... for a module of the package; "" for the package itself."""
    rest = name.removeprefix(package).removeprefix(".")
    return rest.split(".")[0]


def _allowed(importer: str, imported: str, package: str) -> bool:
    source, target = part_of(importer, package), part_of(imported, package)
    if source == target or target == "":  # the package itself holds only its version
        return True
    if (source, imported.removeprefix(package + ".")) in ALLOWED_EXCEPTIONS:
        return True
    allowed = ALLOWED.get(source)
    if allowed is None:
        return False
    if EVERYTHING in allowed:
        return source not in ORCHESTRATORS or target not in NOT_FOR_ORCHESTRATORS
    return target in allowed


def layering_violations(root: Path) -> list[str]:
    modules, found = all_imports(root)
    package = root.name
    violations = [
        f"{part_of(name, package)!r} has no layering rule: add it to ALLOWED ({name})"
        for name in modules
        if part_of(name, package) not in ALLOWED
    ]
    violations.extend(
        f"{each.importer} -> {each.imported} (line {each.line}{', lazy' if each.lazy else ''})"
        for each in found
        if _inside(each.imported, (package,))
        and part_of(each.importer, package) in ALLOWED
        and not _allowed(each.importer, each.imported, package)
    )
    return violations


# --- c. only store modules run SQL -----------------------------------------------------------

SQL_BUILDERS = (
    "select",
    "update",
    "delete",
    "insert",
    "func",
    "text",
    "and_",
    "or_",
    "case",
    "exists",
    "union_all",
)
SQL_BUILDER_NAMES = {
    f"{library}.{name}" for library in ("sqlalchemy", "sqlalchemy.sql") for name in SQL_BUILDERS
}
RUNNING_SQL = ("execute", "scalars", "scalar")


# Besides the store modules: the report's and the digest's read-only queries, and the schema.
# casework/models.py is schema too: its partial indexes' predicates are `text("... IS NULL")`.
SQL_MODULES = {"mail/digest_figures.py", "casework/db.py", "casework/models.py"}
SQL_FOLDERS = ("casework/migrations/",)


def may_run_sql(relative: Path) -> bool:
    """Store modules (a file, or a folder, named store*), reports/queries*.py and SQL_MODULES
    and SQL_FOLDERS."""
    parts = relative.with_suffix("").parts
    if any(part.startswith("store") for part in parts):
        return True
    posix = relative.as_posix()
    return (
        (len(parts) == 2 and parts[0] == "reports" and parts[1].startswith("queries"))
        or posix in SQL_MODULES
        or posix.startswith(SQL_FOLDERS)
    )


def sql_violations(root: Path) -> list[str]:
    violations: list[str] = []
    for module in read_package(root).values():
        if may_run_sql(module.relative):
            continue
        for node, _ in _walk(module.tree):
            if isinstance(node, ast.ImportFrom) and node.module in {"sqlalchemy", "sqlalchemy.sql"}:
                violations.extend(
                    f"{module.name}:{node.lineno} imports {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name in SQL_BUILDERS
                )
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in RUNNING_SQL
            ):
                violations.append(f"{module.name}:{node.lineno} calls .{node.func.attr}(")
        # `import sqlalchemy as sa` then `sa.select(...)` (a name imported from sqlalchemy is
        # reported once, at its import)
        uses = {
            (name, line)
            for name, line, through_attribute in qualified_names(module)
            if through_attribute and name in SQL_BUILDER_NAMES
        }
        violations.extend(
            f"{module.name}:{line} uses {name}" for name, line in sorted(uses, key=_by_line)
        )
    return violations


# --- d. no import cycles ---------------------------------------------------------------------


def import_graph(root: Path) -> dict[str, dict[str, Import]]:
    """Module -> the package's modules it imports (the first import of each, with its line)."""
    modules, found = all_imports(root)
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for each in found:
        if each.imported in modules and each.imported != each.importer:
            graph[each.importer].setdefault(each.imported, each)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's components, iteratively (no recursion limit); only those of two or more."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
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
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def _shortest_cycle(graph: dict[str, dict[str, Import]], start: str, within: set[str]) -> list[str]:
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child not in within:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return []


def cycles(root: Path) -> list[str]:
    """Each import cycle, as `a -> b (line 3) -> a (line 9, lazy)`: the shortest cycle through
    each module of each strongly connected group, without repeats."""
    graph = import_graph(root)
    described: dict[frozenset[tuple[str, str]], str] = {}
    for component in strongly_connected(graph):
        members = set(component)
        for start in component:
            cycle = _shortest_cycle(graph, start, members)
            edges = frozenset(pairwise(cycle))
            if not cycle or edges in described:
                continue
            steps = [cycle[0]]
            for source, target in pairwise(cycle):
                edge = graph[source][target]
                steps.append(f"{target} (line {edge.line}{', lazy' if edge.lazy else ''})")
            described[edges] = " -> ".join(steps)
    return list(described.values())


# --- f. sizes --------------------------------------------------------------------------------

MAX_MODULE_LINES = 420
MAX_TOP_LEVEL_MODULES = 10


def long_modules(root: Path, limit: int = MAX_MODULE_LINES) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > limit:
            found.append(f"{path.relative_to(root.parent).as_posix()}: {count} lines")
    return found


def top_level_modules(root: Path) -> list[str]:
    return sorted(path.name for path in root.glob("*.py"))
