"""The ``vt-agent`` command line: a thin dispatcher over ``vt_agent.commands.*``.

Each command module defines ``register(subparsers)`` and sets ``func`` on its parser; ``func``
takes the parsed namespace and returns an exit code. Errors from vt-agent are printed on stderr
without a traceback and give exit code 2 (1 for other failures).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from vt_agent.errors import VTAgentError

__all__ = [
    "COMMANDS",
    "EPILOG",
    "build_parser",
    "main",
]

COMMANDS = ("inspect", "reason", "triage", "batch", "eval", "serve", "train")
EPILOG = """settings: every backend flag is also a VT_AGENT_* variable (see docs/settings.md).

examples:
  vt-agent inspect clip.mp4
  vt-agent reason clip.mp4 "What happens first?" -o "A man enters" -o "A dog barks"
  vt-agent triage recording.mp4 "someone crosses the lawn" --html report.html
  vt-agent reason clip.mp4 "What happens?" --backend fake     # scripted traces, no model
  vt-agent COMMAND --help                                     # each command's flags and examples
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vt-agent",
        description="Grounded video reasoning with Video-Thinker.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"vt_agent.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"vt_agent.commands.{name}":
                continue  # command not shipped in this build
            raise
        module.register(sub)
    return parser


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The deepest parser the command line selected (``vt-agent eval run`` -> the ``run`` parser)."""
    while True:
        action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, action.dest, None) if action is not None and action.dest else None
        if action is None or chosen not in action.choices:
            return parser
        parser = action.choices[chosen]


def _version() -> str:
    from vt_agent import __version__

    return __version__


def parse_command_line(
    argv: Sequence[str],
) -> tuple[argparse.ArgumentParser, argparse.Namespace, list[str], list[str]]:
    """``(parser, args, unrecognized, detached)`` for ``argv`` as ``vt-agent`` reads it: triage's
    words prepared first (``--query`` rewritten; ``--resume WORD`` where WORD is not a FILE:
    WORD is a positional, listed in ``detached``), then argparse."""
    parser = build_parser()
    words = list(argv)
    detached: list[str] = []
    if words[:1] == ["triage"]:
        from vt_agent.commands import triage

        triage_parser = _command_parser(parser, argparse.Namespace(command="triage"))
        words, detached = triage.prepare_argv(words, list(triage_parser._option_string_actions))
    args, extra = parser.parse_known_args(words)
    return parser, args, extra, detached


def main(argv: Sequence[str] | None = None) -> int:
    parser, args, extra, detached = parse_command_line(sys.argv[1:] if argv is None else argv)
    if extra:  # reported by the (sub)command's own parser, with its usage
        hint = " (vLLM's own flags go after --: vt-agent serve --model M -- --tensor-parallel-size 2)"
        message = f"unrecognized arguments: {' '.join(extra)}{hint if args.command == 'serve' else ''}"
        if detached:
            from vt_agent.commands import triage

            message = triage.detached_hint(extra, detached)
        _command_parser(parser, args).error(message)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return func(args)
    except VTAgentError as exc:
        print(f"{_command_parser(parser, args).prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_command_parser(parser, args).prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `vt-agent eval score ... | head`: the reader left, nothing to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
