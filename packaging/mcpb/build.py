"""Build the Claude Desktop extension: ``dist/vt-agent.mcpb`` (an MCP Bundle, a zip archive).

    python packaging/mcpb/build.py [--out dist/vt-agent.mcpb]      (or: make mcpb)

The bundle holds ``manifest.json`` (this folder's, with the project's version), ``server/main.py``,
the ``vt_agent`` and ``mcp_server`` packages and a ``pyproject.toml`` listing what they need to
serve the tool: the core dependencies and the ``video`` and ``mcp`` extras, never torch. The
manifest's server type is ``uv``: the host installs those dependencies itself.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PACKAGES = ("vt_agent", "mcp_server")
EXTRAS = ("video", "mcp")
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed: the same sources give the same bundle


def _pyproject() -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise SystemExit(
            "packaging/mcpb/build.py needs Python 3.11 or newer (tomllib): run it with PY=python3.11"
        ) from None

    with (ROOT / "pyproject.toml").open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    return data


def requirements(project: dict[str, Any]) -> list[str]:
    """The core dependencies plus those of :data:`EXTRAS` (self-references resolved), in order."""
    name = project["name"]
    extras = project.get("optional-dependencies", {})
    out: list[str] = list(project.get("dependencies", []))
    todo = list(EXTRAS)
    seen: set[str] = set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for req in extras[extra]:
            m = re.fullmatch(rf"{re.escape(name)}\[([^\]]+)\]", req.replace(" ", ""))
            if m:
                todo.extend(m.group(1).split(","))
            elif req not in out:
                out.append(req)
    return out


def bundle_pyproject(project: dict[str, Any]) -> str:
    deps = "".join(f'  "{req}",\n' for req in requirements(project))
    return (
        "# Written by packaging/mcpb/build.py: what the bundled vt_agent and mcp_server need (no torch).\n"
        "[project]\n"
        f'name = "{project["name"]}-mcpb"\n'
        f'version = "{project["version"]}"\n'
        f'requires-python = "{project["requires-python"]}"\n'
        f"dependencies = [\n{deps}]\n"
    )


def manifest(project: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    data["version"] = project["version"]
    return data


def files() -> list[tuple[Path, str]]:
    """(source, path in the bundle) of the server and package files."""
    out = [
        (HERE / "server" / "main.py", "server/main.py"),
        (ROOT / "LICENSE", "LICENSE"),
        (ROOT / "NOTICE", "NOTICE"),
    ]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_file() and not SKIP_PARTS & set(rel.parts) and path.suffix not in {".pyc", ".pyo"}:
                out.append((path, rel.as_posix()))
    return out


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def build(out: Path) -> Path:
    """Write the bundle to ``out`` and return it."""
    project = _pyproject()["project"]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(
            zf, "manifest.json", (json.dumps(manifest(project), indent=2, ensure_ascii=False) + "\n").encode()
        )
        _add(zf, "pyproject.toml", bundle_pyproject(project).encode())
        for source, name in files():
            _add(zf, name, source.read_bytes())
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "vt-agent.mcpb")
    args = parser.parse_args(argv)
    path = build(args.out)
    with zipfile.ZipFile(path) as zf:
        n = len(zf.namelist())
    print(f"wrote {path} ({n} files, {path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
