"""vt-agent-mcp inside an MCP Bundle (the Claude Desktop extension built by ``make mcpb``).

The host fills the manifest's ``mcp_config`` with the user's settings and runs this file. Its
arguments follow ``vt-agent-mcp``'s, with two differences the host's substitution needs:

* ``--allow DIR [DIR ...]``: every folder chosen in the "Video folders" setting (the host expands
  a multiple choice into separate arguments), passed on as one ``--allow`` each;
* a setting the user left empty arrives empty or as its unreplaced ``${user_config.NAME}``
  placeholder (arguments and environment alike): it is dropped, so the server's default applies.

The bundle carries the ``vt_agent`` and ``mcp_server`` packages next to this folder.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

BUNDLE = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"^\$\{[^}]+\}$")
MULTI = {"--allow", "--allow-url-host", "--backend-option"}


def _unset(value: str) -> bool:
    return not value.strip() or bool(PLACEHOLDER.match(value.strip()))


def server_args(argv: Sequence[str]) -> list[str]:
    """``vt-agent-mcp`` arguments from the host's: lists spread into repeated flags, empty settings dropped."""
    out: list[str] = []
    flag: str | None = None
    values: list[str] = []

    def flush() -> None:
        if flag is None:
            return
        kept = [v for v in values if not _unset(v)]
        if flag in MULTI:
            for v in kept:
                out.extend([flag, v])
        elif kept:
            out.extend([flag, kept[-1]])
        elif not values:  # a switch without a value
            out.append(flag)

    for arg in argv:
        if arg.startswith("--"):
            flush()
            flag, values = arg, []
        elif flag is None:
            out.append(arg)
        else:
            values.append(arg)
    flush()
    return out


def clean_environment(environ: dict[str, str] | os._Environ[str]) -> None:
    """Remove ``VT_AGENT_*`` variables whose setting was left empty (a placeholder or nothing)."""
    for key in [k for k, v in environ.items() if k.startswith("VT_AGENT_") and _unset(v)]:
        del environ[key]


def main(argv: Sequence[str] | None = None) -> int:
    sys.path.insert(0, str(BUNDLE))
    clean_environment(os.environ)
    from mcp_server.cli import main as run

    return run(server_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
