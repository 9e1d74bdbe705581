"""``vt-agent-mcp`` entry point: :func:`mcp_server.cli.main`, with a pip hint when the ``mcp`` extra is missing."""

from __future__ import annotations

import sys

MCP_MODULES = ("mcp", "mcp_types", "uvicorn", "anyio", "starlette", "pydantic_settings", "sse_starlette")
"""Top-level modules the ``mcp`` extra installs: their absence means ``pip install 'vt-agent[mcp]'``."""


def main() -> int:
    try:
        from mcp_server.cli import main as run

        return run()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in MCP_MODULES:
            raise
        print(
            f"vt-agent-mcp: the MCP server needs the Python package {exc.name!r}, which is not installed. "
            "Install it with: pip install 'vt-agent[mcp]'",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
