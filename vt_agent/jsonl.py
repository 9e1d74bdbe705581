"""Append-only JSON Lines files that a crash cannot corrupt: one row per line, each flushed.

A run killed while writing leaves at most one row cut off at the end of the file, without its
newline. Before appending to an existing file, :func:`cut_partial_line` drops that tail, so the
next row starts on a line of its own (appending after it would glue two rows into one unreadable
line). A row whose newline never reached the file is dropped too: its job simply runs again.
Readers that resume a run call :func:`cut_partial_line` before reading what is done.

Used by ``eval run`` (results), ``vt-agent batch`` (results) and ``vt-agent train-data`` (records
and logs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TextIO

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["JsonlAppender", "cut_partial_line"]


def cut_partial_line(path: str | os.PathLike[str]) -> bool:
    """Drop what follows the last newline of ``path``: a row cut off by a crash.

    Returns True when something was dropped; an absent or empty file is left alone. Raises
    :class:`ValueError` (and changes nothing) when that last piece does not start like a JSON
    row: then the file is not one this project wrote, and nothing of it is thrown away.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        return False
    if size == 0:
        return False
    with p.open("r+b") as fh:
        keep = _end_of_last_line(fh, size)
        if keep == size:
            return False
        fh.seek(keep)
        if not fh.read(min(size - keep, 64)).lstrip().startswith(b"{"):
            raise ValueError(
                f"{p}: its last line is not a JSON row cut off mid-write (no newline, no '{{'); "
                "this is not a JSON Lines file written by vt-agent: give a new file"
            )
        fh.truncate(keep)
    return True


def _end_of_last_line(fh: BinaryIO, size: int, block: int = 1 << 16) -> int:
    """Offset just after the last newline (0 when there is none), reading backwards by blocks."""
    end = size
    while end > 0:
        start = max(0, end - block)
        fh.seek(start)
        chunk = fh.read(end - start)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        end = start
    return 0


class JsonlAppender:
    """``path`` opened for writing JSON lines, each flushed as written (a crash keeps every row
    written before it). ``mode="a"`` appends after cutting a partial last line (``cut`` tells
    whether one was cut; :func:`cut_partial_line` raises for a file that is not JSON lines);
    ``"w"`` starts afresh. Parent folders are made. A context manager."""

    def __init__(self, path: str | os.PathLike[str], mode: Literal["w", "a"] = "a") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cut = mode == "a" and cut_partial_line(self.path)
        self._fh: TextIO | None = self.path.open(mode, encoding="utf-8")
        self.count = 0

    def write(self, row: dict[str, Any] | str) -> None:
        """Append one row (a dict, or a row already in JSON text) and flush it."""
        if self._fh is None:
            raise ValueError(f"{self.path} is closed")
        text = row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)
        self._fh.write(text.rstrip("\n") + "\n")
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
