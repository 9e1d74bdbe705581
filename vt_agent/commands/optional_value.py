"""Flags whose value is optional (``--resume [FILE]``) written before the positionals.

argparse gives the next word to a ``nargs="?"`` flag whenever one follows, by design (an open
CPython issue since 2010), so ``vt-agent triage v.mp4 --resume "a dog runs"`` would take the query
as FILE and then miss QUERY. :func:`detach_values` runs before argparse: a word after the flag that
fails the flag's own test stays where it is, as a positional, and the bare flag moves to the end
(before ``--``), where it takes its default. ``--flag=VALUE`` is always the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["detach_values"]


def _names_flag(token: str, flag: str, option_strings: Iterable[str]) -> bool:
    """``token`` is ``flag`` or an abbreviation argparse would read as it (a unique prefix)."""
    if token == flag:
        return True
    if not token.startswith("--") or len(token) < 3 or not flag.startswith(token):
        return False
    return [o for o in option_strings if o.startswith(token)] == [flag]


def detach_values(
    argv: list[str],
    flag: str,
    is_value: Callable[[str], bool],
    option_strings: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """``argv`` with each ``flag WORD`` whose WORD fails ``is_value`` split apart, and those WORDs.

    WORD keeps its place (a positional now); the bare ``flag`` goes to the end, or just before
    ``--`` when there is one. ``option_strings``: the parser's flags, to read abbreviations of
    ``flag`` as argparse does. A WORD starting with ``-`` is never a value (argparse agrees).
    """
    names = list(option_strings)
    out: list[str] = []
    detached: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            break
        word = argv[i + 1] if i + 1 < len(argv) else None
        if (
            _names_flag(token, flag, names)
            and word is not None
            and not word.startswith("-")
            and not is_value(word)
        ):
            detached.append(word)
            out.append(word)
            i += 2
            continue
        out.append(token)
        i += 1
    if not detached:
        return argv, []
    return [*out, flag, *argv[i:]], detached
