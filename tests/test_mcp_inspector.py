"""``vt-agent-mcp`` checked by another MCP implementation: the MCP Inspector's CLI mode (TypeScript SDK).

``tools/list`` (with ``--strict``: the Inspector's tool-schema portability check), a ``tools/call``
on a clip under ``--allow``, a wrong argument name, ``resources/list`` and ``resources/read``, each
over stdio. The Inspector is found as ``$VT_AGENT_INSPECTOR``, ``build/node/node_modules/.bin/
mcp-inspector`` (``.ci/run`` installs ``@modelcontextprotocol/inspector`` there when npm is
available) or ``mcp-inspector`` on PATH; without it, or without node, the test skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

ROOT = Path(__file__).resolve().parent.parent
VIDEOS = ROOT / "tests" / "data" / "videos"
BBB = VIDEOS / "bigbuckbunny.mp4"


def _inspector() -> str | None:
    for candidate in (
        os.environ.get("VT_AGENT_INSPECTOR"),
        ROOT / "build" / "node" / "node_modules" / ".bin" / "mcp-inspector",
    ):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return shutil.which("mcp-inspector")


INSPECTOR = _inspector()
pytestmark = pytest.mark.skipif(
    INSPECTOR is None or shutil.which("node") is None,
    reason="the MCP Inspector is not installed (npm install --prefix build/node @modelcontextprotocol/inspector)",
)


def _inspect(tmp_path: Path, *args: str, code: int = 0) -> Any:
    """The Inspector's JSON answer; ``code``: its exit status (5: the tool answered isError)."""
    assert INSPECTOR is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    env["MCP_CATALOG_PATH"] = str(tmp_path / "catalog.json")  # never the user's ~/.mcp-inspector
    server = [
        "-e", f"PYTHONPATH={ROOT}", "-e", "VT_AGENT_LOG_LEVEL=WARNING",  # the Inspector takes --log-level
        sys.executable, "-m", "mcp_server", "--backend", "fake", "--allow", str(VIDEOS),
    ]  # fmt: skip
    proc = subprocess.run(
        [INSPECTOR, "--cli", *server, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == code, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_tools_list_passes_the_strict_portability_check(tmp_path: Path) -> None:
    listed = _inspect(tmp_path, "--method", "tools/list", "--strict")
    (tool,) = listed["tools"]
    schema = tool["inputSchema"]
    assert tool["name"] == "video_reason" and schema["required"] == ["videos", "question"]
    assert not {"oneOf", "anyOf", "allOf"} & set(schema)
    assert str(VIDEOS) in tool["description"]


def test_tools_call_on_a_clip_under_allow(tmp_path: Path) -> None:
    res = _inspect(
        tmp_path,
        "--method", "tools/call", "--tool-name", "video_reason",
        "--tool-arg", f"videos={json.dumps([str(BBB)])}",
        "--tool-arg", "question=What does the rabbit do?",
        "--tool-arg", 'options=["Eats a flower", "Stretches his arms and yawns"]',
        "--tool-arg", "thumbnails=1",
    )  # fmt: skip
    assert not res.get("isError")
    data = res["structuredContent"]
    assert data["status"] == "done" and data["answer"] in {"A", "B"} and data["source"] == "scripted"
    text = res["content"][0]["text"]
    assert text.startswith(f"Answer: {data['answer']}. ")
    assert [c["type"] for c in res["content"]] == ["text", "image"]


def test_a_wrong_argument_name_is_named(tmp_path: Path) -> None:
    res = _inspect(
        tmp_path,
        "--method", "tools/call", "--tool-name", "video_reason",
        "--tool-arg", f"video={json.dumps([str(BBB)])}", "--tool-arg", "question=What happens?",
        code=5,
    )  # fmt: skip
    assert res["isError"] and "Unknown argument 'video' (did you mean 'videos'?)" in res["content"][0]["text"]


def test_resources_list_and_read(tmp_path: Path) -> None:
    listed = _inspect(tmp_path, "--method", "resources/list")
    by_name = {r["name"]: r for r in listed["resources"]}
    assert {"bigbuckbunny.mp4", "cityCC0.mpg", "vtest.avi"} <= set(by_name)
    bbb = by_name["bigbuckbunny.mp4"]
    assert bbb["uri"] == BBB.as_uri() and bbb["size"] == BBB.stat().st_size
    assert bbb["_meta"]["vt-agent/duration_s"] > 5
    read = _inspect(tmp_path, "--method", "resources/read", "--uri", bbb["uri"])
    record = json.loads(read["contents"][0]["text"])
    assert record["path"] == str(BBB) and record["width"] == 1280
