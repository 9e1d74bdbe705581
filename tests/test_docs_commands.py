"""Every `vt-agent` / `vt-agent-mcp` command quoted in a code block of the README or docs/ parses with today's flags,
and none uses a deprecated spelling (triage --query)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from mcp_server.cli import build_parser as mcp_parser
from vt_agent.cli import COMMANDS, parse_command_line

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_COMMAND = re.compile(r"^(?:\S*/)?(vt-agent(?:-mcp)?)\s+(.*)$")


def _plain(arg: str) -> str:
    """A synopsis word as a user would type it: ``[--json]`` -> ``--json``, ``a|b`` -> ``a``, ``-q/--quiet`` -> ``-q``."""
    arg = arg.strip("[]")
    if arg.startswith("-") and "/" in arg and "=" not in arg:
        return arg.split("/")[0]
    return arg.split("|")[0] if "|" in arg and "://" not in arg else arg


def quoted_commands() -> list[tuple[str, str, list[str]]]:
    """(file, line, argv) for each command line in the fenced code blocks (continuations joined)."""
    out = []
    for path in FILES:
        for block in re.findall(r"```[a-z]*\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                line = line.strip().removeprefix("$ ").strip()
                found = _COMMAND.match(line)
                if found is None:
                    continue
                argv = []
                for word in shlex.split(found.group(2), comments=True):
                    if word == "...":  # a value left out ("--llm-base-url ..."), or "and more"
                        if argv and argv[-1].startswith("--"):
                            argv.append("VALUE")
                        continue
                    argv.append(_plain(word))
                if (
                    argv
                    and found.group(1) == "vt-agent"
                    and argv[0] not in COMMANDS
                    and not argv[0].startswith("-")
                ):
                    continue  # prose that names the command
                out.append((path.relative_to(ROOT).as_posix(), line, [found.group(1), *argv]))
    return out


QUOTED = quoted_commands()


def test_the_docs_quote_commands() -> None:
    assert len(QUOTED) > 20 and any(argv[:2] == ["vt-agent", "triage"] for _, _, argv in QUOTED)


@pytest.mark.parametrize(("where", "line", "argv"), QUOTED, ids=[f"{w}:{a[:3]}" for w, _, a in QUOTED])
def test_quoted_command_parses(where: str, line: str, argv: list[str]) -> None:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            if argv[0] == "vt-agent":  # as the command reads it (triage's words prepared first)
                extra = parse_command_line(argv[1:])[2]
            else:
                extra = mcp_parser().parse_known_args(argv[1:])[1]
    except SystemExit as exc:
        assert not exc.code, f"{where}: `{line}` does not parse: {err.getvalue().strip()}"
        return
    assert not extra, f"{where}: `{line}`: unrecognized {extra}"
    assert "--query" not in argv, (
        f"{where}: `{line}` uses the deprecated --query (the query goes after VIDEO)"
    )
