"""The layers hold: the core never imports an adapter, adapters never import each other,
no package-level import cycles, nothing depends on LangGraph's private modules."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vt_agent", "graphs", "mcp_server")


def _unit(module: str) -> str:
    """A layer unit: ``graphs``, ``mcp_server``, or ``vt_agent.<sub>`` (subpackage or module)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "vt_agent" and len(parts) > 1 else parts[0]


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (type-only imports are not dependencies)."""
    out: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _imports() -> dict[str, set[tuple[str, str]]]:
    """module -> {(imported module, file)} for every runtime import, lazy ones included."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                    if node.module == "vt_agent":
                        names = [f"vt_agent.{alias.name}" for alias in node.names]
                found[module].update((name, str(path.relative_to(ROOT))) for name in names)
    return found


IMPORTS = _imports()


def _offenders(source_prefix: str, target_prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{file} imports {name}"
        for module, names in IMPORTS.items()
        if module == source_prefix or module.startswith(source_prefix + ".")
        for name, file in names
        if any(name == t or name.startswith(t + ".") for t in target_prefixes)
    )


def test_core_never_imports_an_adapter() -> None:
    assert _offenders("vt_agent", ("graphs", "mcp_server")) == []


def test_adapters_never_import_each_other() -> None:
    assert _offenders("graphs", ("mcp_server",)) == []
    assert _offenders("mcp_server", ("graphs",)) == []


def test_cli_internals_stay_in_the_cli() -> None:
    outside = [
        line
        for line in _offenders("vt_agent", ("vt_agent.commands", "vt_agent.cli"))
        if not line.startswith(("vt_agent/commands/", "vt_agent/cli.py"))
    ]
    assert outside + _offenders("mcp_server", ("vt_agent.commands",)) == []


def test_no_langgraph_internals() -> None:
    for package in PACKAGES:
        assert _offenders(package, ("langgraph._internal",)) == []


def test_no_import_cycles_between_packages() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, names in IMPORTS.items():
        if module == "vt_agent":  # the package's lazy re-exports
            continue
        for name, _ in names:
            if name.split(".")[0] in PACKAGES and _unit(name) != _unit(module):
                edges[_unit(module)].add(_unit(name))
    cycles = []
    for start in list(edges):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_modules_stay_small_or_say_why() -> None:
    """No module over 700 lines; one over 400 says why at its top ("Over 400 lines: ...")."""
    too_long, unexplained = [], []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            lines = text.count("\n") + 1
            name = str(path.relative_to(ROOT))
            if lines > 700:
                too_long.append(f"{name}: {lines}")
            elif lines > 400 and "over 400 lines" not in (ast.get_docstring(ast.parse(text)) or "").lower():
                unexplained.append(f"{name}: {lines}")
    assert too_long == [] and unexplained == []


def test_every_public_module_declares_its_api() -> None:
    """Each public module (no leading underscore) lists its public names in ``__all__``."""
    missing = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if not path.name.startswith("_") and "__all__" not in path.read_text(encoding="utf-8")
    ]
    assert missing == []
