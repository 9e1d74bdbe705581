"""Durable triage progress: each window's outcome in a SQLite file, so a crashed run resumes.

::

    plan = await plan_triage("long.mp4", "someone crosses the lawn")
    key = run_key(plan, preset="video-thinker-16f", backend="vllm", model="Video-Thinker-7B", max_tokens=1024)
    store = await TriageStore.open("long.triage.sqlite", key)
    try:
        outcomes = [o async for o in resume_scan(reasoner, plan, store, concurrency=2)]
    finally:
        await store.aclose()
    report = build_report(plan, outcomes)

The file holds one run, named by :func:`run_key` (the video's content identity, the query, the
windowing, the sampling preset, the backend, model and token limit). Opening it with another key
raises :class:`ConfigError` saying what differs. :func:`resume_scan` yields the stored outcomes,
then scans only the missing windows (:func:`vt_agent.triage.scan_windows` with ``indices``) and
stores each outcome as it ends (committed at once). A window that ended in an error is not
stored, so resuming asks it again. Every SQLite call runs in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from vt_agent.errors import ConfigError
from vt_agent.triage import DEFAULT_CONCURRENCY, StreamingReasoner, TriagePlan, scan_windows

if TYPE_CHECKING:
    from vt_agent.busy import BusyMeter

__all__ = ["SCHEMA_VERSION", "TriageStore", "resume_scan", "run_key"]

SCHEMA_VERSION = 1
_T = TypeVar("_T")


def run_key(
    plan: TriagePlan, *, preset: str, backend: str, model: str, max_tokens: int | None = None
) -> dict[str, Any]:
    """What makes two triage runs the same run (their windows' answers interchangeable)."""
    return {
        "schema": SCHEMA_VERSION,
        "video_id": plan.info.get("file_id"),
        "duration_s": plan.info.get("duration_s"),
        "query": plan.query,
        "window_s": plan.window_s,
        "overlap_s": plan.overlap_s,
        "windows": len(plan.windows),
        "preset": preset,
        "backend": backend,
        "model": model,
        "max_tokens": max_tokens,
    }


_NAMES = {"video_id": "video content", "duration_s": "video duration", "windows": "number of windows"}


class TriageStore:
    """A SQLite file holding one triage run's key and its finished windows' outcomes."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()  # one statement at a time (the connection is shared by threads)

    @classmethod
    async def open(cls, path: str | Path, key: Mapping[str, Any]) -> TriageStore:
        """Open (or create) the file at ``path`` for the run ``key``; ConfigError for another run's file."""
        return await asyncio.to_thread(cls.open_sync, Path(path), dict(key))

    @classmethod
    def open_sync(cls, path: Path, key: dict[str, Any]) -> TriageStore:
        if path.is_dir():
            raise ConfigError(
                f"--resume: {path} is a folder; give a file name, e.g. {path / 'triage.sqlite'}"
            )
        if not path.parent.is_dir():
            raise ConfigError(f"--resume: folder {path.parent} does not exist; create it first")
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS run (id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS windows (idx INTEGER PRIMARY KEY, outcome TEXT NOT NULL)"
            )
            row = conn.execute("SELECT key FROM run WHERE id = 1").fetchone()
            if row is None:
                conn.execute("INSERT INTO run (id, key) VALUES (1, ?)", (json.dumps(key, sort_keys=True),))
            else:
                _check_same_run(path, json.loads(row[0]), key)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ConfigError(
                f"--resume: {path} is not a vt-agent triage progress file ({exc}); give another file"
            ) from None
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    def _call(self, fn: Callable[[], _T]) -> _T:
        with self._lock:
            return fn()

    async def outcomes(self) -> list[dict[str, Any]]:
        """The stored outcomes, by window index."""

        def read() -> list[dict[str, Any]]:
            rows = self._conn.execute("SELECT outcome FROM windows ORDER BY idx").fetchall()
            return [json.loads(r[0]) for r in rows]

        return await asyncio.to_thread(self._call, read)

    async def save(self, outcome: Mapping[str, Any]) -> None:
        """Store one window's outcome (committed before this returns)."""
        text = json.dumps(outcome, ensure_ascii=False)
        index = int(outcome["index"])

        def write() -> None:
            self._conn.execute("INSERT OR REPLACE INTO windows (idx, outcome) VALUES (?, ?)", (index, text))

        await asyncio.to_thread(self._call, write)

    def close(self) -> None:
        self._call(self._conn.close)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


def _check_same_run(path: Path, stored: Mapping[str, Any], key: Mapping[str, Any]) -> None:
    diffs = [
        f"{_NAMES.get(k, k)} {stored.get(k)!r} there, {key.get(k)!r} now"
        for k in sorted(set(stored) | set(key))
        if stored.get(k) != key.get(k)
    ]
    if diffs:
        raise ConfigError(
            f"--resume: {path} holds the progress of another triage ({'; '.join(diffs)}). "
            "Give another --resume file, or delete this one to start over."
        )


async def resume_scan(
    reasoner: StreamingReasoner,
    plan: TriagePlan,
    store: TriageStore,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    preset: str | None = None,
    on_stored: Callable[[int], None] | None = None,
    prepare_workers: int | None = None,
    prepare_pool: Literal["thread", "process"] = "thread",
    meter: BusyMeter | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """The stored outcomes, then the missing windows' outcomes as each ends (each stored as it ends).

    ``prepare_workers``, ``prepare_pool``, ``meter``: as for :func:`~vt_agent.triage.scan_windows`.

    ``on_stored(n)`` is called once with the number of outcomes found in the store, before any scan.
    """
    stored = [o for o in await store.outcomes() if 0 <= int(o.get("index", -1)) < len(plan.windows)]
    done = {int(o["index"]) for o in stored}
    if on_stored is not None:
        on_stored(len(stored))
    for outcome in stored:
        yield outcome
    todo = [i for i in range(len(plan.windows)) if i not in done]
    if not todo:
        return
    scan = scan_windows(
        reasoner,
        plan,
        concurrency=concurrency,
        preset=preset,
        indices=todo,
        prepare_workers=prepare_workers,
        prepare_pool=prepare_pool,
        meter=meter,
    )
    async with aclosing(scan):  # closing this iterator cancels the windows in flight
        async for outcome in scan:
            if outcome.get("error") is None:
                await store.save(outcome)
            yield outcome
