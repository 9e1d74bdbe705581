"""The Claude Desktop extension (packaging/mcpb): a valid MCPB manifest, a bundle that `make mcpb`
builds, and a bundled server that starts from the unpacked bundle and lists its tool.

``mcpb validate`` runs where the MCPB CLI is found: ``mcpb`` on PATH, ``$VT_AGENT_MCPB``, or
``build/node/node_modules/.bin/mcpb`` (``.ci/run`` installs ``@anthropic-ai/mcpb`` there when npm
is available); elsewhere that test skips.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
MCPB_DIR = ROOT / "packaging" / "mcpb"
VIDEOS = ROOT / "tests" / "data" / "videos"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load("mcpb_build", MCPB_DIR / "build.py")
launcher = _load("mcpb_main", MCPB_DIR / "server" / "main.py")


def _mcpb_cli() -> str | None:
    for candidate in (
        os.environ.get("VT_AGENT_MCPB"),
        ROOT / "build" / "node" / "node_modules" / ".bin" / "mcpb",
    ):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return shutil.which("mcpb")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out: Path = build.build(tmp_path_factory.mktemp("dist") / "vt-agent.mcpb")
    return out


def _host_config(manifest: dict[str, Any], bundle_dir: Path, user: dict[str, Any]) -> dict[str, Any]:
    """``mcp_config`` with the variables substituted as the MCPB host does (lists spread in args)."""
    config = manifest["server"]["mcp_config"]
    values = {f"user_config.{k}": v for k, v in user.items()}
    values |= {"__dirname": str(bundle_dir), "HOME": str(Path.home())}

    def sub(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)

    args: list[str] = []
    for arg in config["args"]:
        whole = re.fullmatch(r"\$\{(user_config\.[^}]+)\}", arg)
        value = values.get(whole.group(1)) if whole else None
        if whole and value:  # the host leaves an empty setting as its placeholder
            args.extend(value if isinstance(value, list) else [str(value)])
        else:
            args.append(sub(arg))
    return {"command": config["command"], "args": args, "env": {k: sub(v) for k, v in config["env"].items()}}


def test_manifest_follows_the_project() -> None:
    manifest = json.loads((MCPB_DIR / "manifest.json").read_text(encoding="utf-8"))
    project = build._pyproject()["project"]
    assert manifest["version"] == project["version"] and manifest["license"] == project["license"]
    assert manifest["server"]["type"] == "uv" and manifest["server"]["entry_point"] == "server/main.py"
    folders = manifest["user_config"]["directories"]
    assert folders["type"] == "directory" and folders["multiple"] and folders["required"]
    args = manifest["server"]["mcp_config"]["args"]
    assert args[args.index("--allow") + 1] == "${user_config.directories}"
    assert args[args.index("--base-url") + 1] == "${user_config.base_url}"
    assert args[args.index("--model") + 1] == "${user_config.model}"
    assert [t["name"] for t in manifest["tools"]] == ["video_reason"]
    reqs = build.requirements(project)
    assert not any(r.startswith(("torch", "transformers", "vllm")) for r in reqs)
    assert any(r.startswith("mcp") for r in reqs) and any(r.startswith("av") for r in reqs)


def test_launcher_turns_host_arguments_into_server_flags() -> None:
    host = [
        "--allow",
        "/a",
        "/b c",
        "--backend",
        "auto",
        "--base-url",
        "${user_config.base_url}",
        "--model",
        "",
    ]
    assert launcher.server_args(host) == ["--allow", "/a", "--allow", "/b c", "--backend", "auto"]
    assert launcher.server_args(["--allow", "${user_config.directories}"]) == []
    env = {"VT_AGENT_API_KEY": "${user_config.api_key}", "VT_AGENT_MODEL": "m", "OTHER": ""}
    launcher.clean_environment(env)
    assert env == {"VT_AGENT_MODEL": "m", "OTHER": ""}


def test_bundle_contents(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        pyproject = zf.read("pyproject.toml").decode()
        manifest = json.loads(zf.read("manifest.json"))
    assert {"manifest.json", "pyproject.toml", "server/main.py", "LICENSE", "NOTICE"} <= names
    assert {"vt_agent/__init__.py", "vt_agent/data/system_prompt.txt", "mcp_server/cli.py"} <= names
    assert not any("__pycache__" in n or n.startswith(("tests/", "graphs/", "server/lib")) for n in names)
    deps = pyproject.split("dependencies = [", 1)[1]
    assert '"mcp>=' in deps and "torch" not in deps and "[build-system]" not in pyproject
    assert manifest["server"]["type"] == "uv"
    again = build.build(bundle.with_name("again.mcpb"))
    assert again.read_bytes() == bundle.read_bytes()  # reproducible


def test_mcpb_validate(bundle: Path, tmp_path: Path) -> None:
    cli = _mcpb_cli()
    if cli is None:
        pytest.skip("the MCPB CLI is not installed (npm install @anthropic-ai/mcpb)")
    for manifest in (MCPB_DIR / "manifest.json", _unpack(bundle, tmp_path) / "manifest.json"):
        proc = subprocess.run([cli, "validate", str(manifest)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "validation passes" in proc.stdout, proc.stdout + proc.stderr
    info = subprocess.run([cli, "info", str(bundle)], capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr


def _unpack(bundle: Path, into: Path) -> Path:
    out = into / "unpacked"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(out)
    return out


def test_bundled_server_starts_and_lists_its_tool(bundle: Path, tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    import anyio
    from mcp import Client, StdioServerParameters

    bundle_dir = _unpack(bundle, tmp_path)
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    user = {"directories": [str(VIDEOS), str(tmp_path)], "backend": "fake", "base_url": "", "model": ""}
    config = _host_config(manifest, bundle_dir, user)
    command, args = config["command"], config["args"]
    if shutil.which(command) is None:  # no uv here: the bundle's script with this interpreter
        args = args[args.index(str(bundle_dir / "server" / "main.py")) :]
        command = sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_") and k != "PYTHONPATH"}
    env |= config["env"]  # the unset API key arrives as its placeholder and is dropped by the launcher
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(tmp_path))

    async def go() -> tuple[Any, Any]:
        async with Client(params) as client:
            tools = await client.list_tools()
            done = await client.call_tool(
                "video_reason",
                {
                    "videos": [str(VIDEOS / "bigbuckbunny.mp4")],
                    "question": "What happens?",
                    "options": ["a", "b"],
                },
            )
            return tools, done

    tools, done = anyio.run(go)
    assert [t.name for t in tools.tools] == ["video_reason"]
    assert not done.is_error and done.structured_content["status"] == "done"
