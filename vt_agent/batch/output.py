"""The results file of ``vt-agent batch``: one JSON line per job, written as each job ends.

A row is ``{"id": ..., <the Result fields>}`` or ``{"id": ..., "error": "Type: text"}``. The file
is appended to and flushed line by line; a run started again on the same file skips the jobs whose
id it already holds. A last line cut off by a crash is dropped (the file is truncated to its last
full line) and that job runs again. Any other line that is not a JSON object with an ``id`` means
the file is not a results file: refused rather than appended to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vt_agent.batch.jobs import job_key
from vt_agent.errors import ConfigError
from vt_agent.jsonl import JsonlAppender, cut_partial_line

if TYPE_CHECKING:
    from vt_agent.result import Result

__all__ = ["ResultsFile", "error_row", "result_row"]


def result_row(job_id: Any, result: Result) -> dict[str, Any]:
    """A job's answer: its id and the Result fields."""
    return {"id": job_id, **result.model_dump(mode="json")}


def error_row(job_id: Any, error: BaseException | str) -> dict[str, Any]:
    """A failed job: its id and the error as ``Type: text``."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"id": job_id, "error": text}


class ResultsFile:
    """``path`` opened for appending rows; ``done`` holds the keys of the jobs already in it.

    ``retry_failed``: rows with an ``error`` are dropped from the file (rewritten in place) so
    those jobs run again. ``truncated`` tells whether a cut-off last line was dropped.
    """

    def __init__(self, path: str | os.PathLike[str], *, retry_failed: bool = False) -> None:
        self.path = Path(path)
        self.dropped_errors = 0
        self.done: set[str] = set()
        self.errors_before = 0
        self.truncated = False
        if self.path.exists():
            self._read(retry_failed)
        self._out = JsonlAppender(self.path)

    def _read(self, retry_failed: bool) -> None:
        data = self.path.read_bytes()
        data = data[: data.rfind(b"\n") + 1]  # a last line cut off by a crash is cut below
        kept: list[bytes] = []
        for n, line in enumerate(data.splitlines(keepends=True), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict) or "id" not in row:
                raise ConfigError(
                    f"--out {self.path} line {n} is not a batch result row (a JSON object with an id); "
                    "give a new file, or the results file of an earlier `vt-agent batch` run to resume it"
                )
            if "error" in row and retry_failed:
                self.dropped_errors += 1
                continue
            self.errors_before += int("error" in row)
            self.done.add(job_key(row["id"]))
            kept.append(line)
        try:
            self.truncated = cut_partial_line(self.path)  # that job runs again
        except ValueError as exc:
            raise ConfigError(f"--out {exc}") from None
        if self.dropped_errors:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_bytes(b"".join(kept))
            os.replace(tmp, self.path)

    def write(self, row: dict[str, Any]) -> None:
        """Append one row and flush it to the file."""
        self._write(row, row["id"])

    def write_line(self, job_id: Any, line: str) -> None:
        """Append a row already written as JSON text (from another process)."""
        self._write(line, job_id)

    def _write(self, row: dict[str, Any] | str, job_id: Any) -> None:
        try:
            self._out.write(row)
        except ValueError:
            raise ConfigError(f"{self.path} is closed") from None
        self.done.add(job_key(job_id))

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
