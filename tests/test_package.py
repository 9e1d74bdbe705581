"""Packaging facts: light imports, the exception tree, the CLI entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vt_agent._lazy import require
from vt_agent.errors import MissingExtraError, VTAgentError


def test_import_is_light() -> None:
    code = (
        "import sys, vt_agent, graphs, mcp_server\n"
        "import vt_agent.cli, vt_agent.result, vt_agent.events, vt_agent.backends.base\n"
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'decord', 'av', 'langgraph', 'mcp') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_missing_extra_names_the_extra() -> None:
    with pytest.raises(MissingExtraError) as info:
        require("surely_not_installed_pkg_xyz", "hf", "The transformers backend")
    assert "vt-agent[hf]" in str(info.value)
    assert isinstance(info.value, VTAgentError)
    assert isinstance(info.value, ImportError)


def test_cli_help_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "vt_agent.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "vt-agent" in out.stdout


def test_public_api_without_torch() -> None:
    code = (
        "import sys\n"
        "from vt_agent import VideoReasoner, load_backend\n"
        "from vt_agent.reasoner import VideoReasoner as R\n"
        "assert VideoReasoner is R and callable(load_backend)\n"
        "print(','.join(m for m in ('torch', 'transformers', 'vllm', 'av') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_error_class_lives_in_the_tree() -> None:
    """A class derived from one of vt_agent.errors' classes is defined in errors.py (drawn there)."""
    import ast
    from pathlib import Path

    import vt_agent.errors as errors

    root = Path(__file__).resolve().parents[1]
    tree_names = set(errors.__all__)
    drawn = (errors.__doc__ or "").split()
    assert sorted(n for n in tree_names if n not in drawn) == []
    outside = []
    for package in ("vt_agent", "graphs", "mcp_server"):
        for path in (root / package).rglob("*.py"):
            if path.name == "errors.py" and path.parent.name == "vt_agent":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                    if bases & tree_names:
                        outside.append(f"{path.relative_to(root)}: {node.name}")
    assert outside == []
