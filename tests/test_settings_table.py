"""Every flag of vt-agent's backend options and of vt-agent-mcp is a VT_AGENT_* variable that the command reads,
and docs/settings.md's table is the one generated from the flags."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_server.cli import build_parser as mcp_parser
from mcp_server.cli import log_level
from mcp_server.settings import load_settings
from vt_agent.cli import build_parser as cli_parser
from vt_agent.commands.backend_args import reasoner_settings
from vt_agent.config import merge_settings

ROOT = Path(__file__).resolve().parent.parent


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TABLE = _script()

# one value per variable, different from the default; a new variable needs a value here (and so a check)
SAMPLES = {
    "VT_AGENT_BACKEND": "fake",
    "VT_AGENT_MODEL": "served-name",
    "VT_AGENT_BASE_URL": "http://127.0.0.1:9/v1",
    "VT_AGENT_API_KEY": "secret-key",
    "VT_AGENT_DEVICE": "cpu",
    "VT_AGENT_DTYPE": "float32",
    "VT_AGENT_FORCE_CPU_7B": "1",
    "VT_AGENT_BACKEND_OPTIONS": "gpu_memory_utilization=0.8 name=abc",
    "VT_AGENT_PRESET": "video-thinker-32f",
    "VT_AGENT_MAX_TOKENS": "77",
    "VT_AGENT_MCP_TRANSPORT": "http",
    "VT_AGENT_MCP_HOST": "localhost",
    "VT_AGENT_MCP_PORT": "9001",
    "VT_AGENT_MCP_TOKEN": "0123456789abcdef0123",
    "VT_AGENT_MCP_ALLOWED_HOSTS": "box.example",
    "VT_AGENT_MAX_CONCURRENCY": "3",
    "VT_AGENT_TIMEOUT_S": "30",
    "VT_AGENT_WAIT_S": "5",
    "VT_AGENT_MAX_FILE_MB": "10",
    "VT_AGENT_ALLOWED_ROOTS": "{tmp}",
    "VT_AGENT_ALLOW_BROAD_ROOT": "1",
    "VT_AGENT_ALLOW_URL_HOSTS": "example.com",
    "VT_AGENT_LOG_LEVEL": "DEBUG",
}
CLI_VARS = TABLE.settings_of(cli_parser())
MCP_VARS = TABLE.settings_of(mcp_parser())


def test_docs_table_is_current() -> None:
    out = subprocess.run(
        [sys.executable, "scripts/settings_table.py", "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert TABLE.table() in (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")


def test_every_variable_has_a_sample() -> None:
    assert set(CLI_VARS) | set(MCP_VARS) == set(SAMPLES)


def test_every_mcp_flag_names_a_variable() -> None:
    missing = [
        max(a.option_strings, key=len)
        for a in mcp_parser()._actions
        if a.option_strings and a.dest not in ("help", "version") and "env VT_AGENT_" not in (a.help or "")
    ]
    assert not missing, f"vt-agent-mcp flags without a VT_AGENT_* variable: {missing}"


@pytest.mark.parametrize("command", [["reason"], ["triage"], ["eval", "run"]])
def test_every_backend_flag_of_vt_agent_names_a_variable(command: list[str]) -> None:
    parser = cli_parser()
    for name in command:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    flags = {"--backend", "--model", "--base-url", "--api-key", "--device", "--dtype", "--backend-option",
             "--force-cpu-7b", "--preset", "--max-tokens"}  # fmt: skip
    named = {flag for a in parser._actions for flag in a.option_strings if "env VT_AGENT_" in (a.help or "")}
    assert flags <= named, flags - named


@pytest.mark.parametrize("var", sorted(CLI_VARS))
def test_vt_agent_reads_each_variable(var: str) -> None:
    env = {var: SAMPLES[var]}
    args = cli_parser().parse_args(["reason", "v.mp4", "q"])
    before = (merge_settings({}, {}), reasoner_settings(args, {}))
    after = (merge_settings({}, env), reasoner_settings(args, env))
    assert after != before, f"{var} changed nothing"


@pytest.mark.parametrize("var", sorted(MCP_VARS))
def test_vt_agent_mcp_reads_each_variable(var: str, tmp_path: Path) -> None:
    value = SAMPLES[var].replace("{tmp}", str(tmp_path))
    if var == "VT_AGENT_LOG_LEVEL":
        args = mcp_parser().parse_args([])
        assert (log_level(args, {}), log_level(args, {var: value})) == ("INFO", "DEBUG")
        return
    assert load_settings({}, {var: value}) != load_settings({}, {}), f"{var} changed nothing"


def test_mcp_max_tokens_variable_and_flag() -> None:
    from mcp_server.cli import settings_from_args

    args = mcp_parser().parse_args([])
    assert settings_from_args(args, {"VT_AGENT_MAX_TOKENS": "77"}).max_tokens == 77
    args = mcp_parser().parse_args(["--max-tokens", "5"])
    assert settings_from_args(args, {"VT_AGENT_MAX_TOKENS": "77"}).max_tokens == 5


def test_bad_variable_values_name_the_variable() -> None:
    from vt_agent.errors import ConfigError

    with pytest.raises(ConfigError, match="VT_AGENT_FORCE_CPU_7B='maybe'"):
        merge_settings({}, {"VT_AGENT_FORCE_CPU_7B": "maybe"})
    with pytest.raises(ConfigError, match="VT_AGENT_BACKEND_OPTIONS 'novalue'"):
        merge_settings({}, {"VT_AGENT_BACKEND_OPTIONS": "novalue"})
    assert merge_settings({}, {"VT_AGENT_BACKEND_OPTIONS": '{"a": [1, 2]}'}).options == {"a": [1, 2]}
