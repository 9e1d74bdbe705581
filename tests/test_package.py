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
