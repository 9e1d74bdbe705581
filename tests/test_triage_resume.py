"""Durable triage progress (issue 15): a crash at window k resumes there; the report equals an uninterrupted one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import BackendError, ConfigError
from vt_agent.reasoner import VideoReasoner
from vt_agent.triage import build_report, plan_triage, scan_windows
from vt_agent.triage_resume import TriageStore, resume_scan, run_key

pytest.importorskip("av")

ROOT = Path(__file__).resolve().parent.parent
QUERY = "a person walks along the path"


class Counting:
    """A reasoner that records the windows it is asked about and crashes on the ``crash_at``-th one."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.inner = VideoReasoner(FakeBackend())
        self.asked: list[tuple[float, float]] = []
        self.crash_at = crash_at

    def astream(
        self,
        videos: Sequence[str],
        question: str,
        options: Sequence[str] | None = None,
        *,
        window: tuple[float, float] | None = None,
        preset: str | None = None,
    ) -> AsyncIterator[Any]:
        assert window is not None
        self.asked.append(window)
        if self.crash_at is not None and len(self.asked) == self.crash_at:
            raise RuntimeError("simulated crash")
        return self.inner.astream(videos, question, options, window=window, preset=preset)


def _key(plan: Any, **change: Any) -> dict[str, Any]:
    return (
        run_key(plan, preset="video-thinker-16f", backend="fake", model="scripted-fake", max_tokens=1024)
        | change
    )


async def _collect(reasoner: Any, plan: Any, store: TriageStore) -> list[dict[str, Any]]:
    return [o async for o in resume_scan(reasoner, plan, store, concurrency=1)]


def test_crash_then_resume_runs_only_missing_windows(vtest: Path, tmp_path: Path) -> None:
    db = tmp_path / "progress.sqlite"

    async def go() -> None:
        plan = await plan_triage(str(vtest), QUERY, window_s=20, overlap_s=5)
        assert len(plan.windows) == 5
        whole = Counting()
        expected = build_report(plan, [o async for o in scan_windows(whole, plan, concurrency=1)])

        crashing = Counting(crash_at=4)  # windows 1..3 end, the 4th crashes
        store = await TriageStore.open(db, _key(plan))
        with pytest.raises(RuntimeError, match="simulated crash"):
            await _collect(crashing, plan, store)
        await store.aclose()

        resumed = Counting()
        store = await TriageStore.open(db, _key(plan))
        seen: list[int] = []
        outcomes = [o async for o in resume_scan(resumed, plan, store, concurrency=2, on_stored=seen.append)]
        await store.aclose()
        assert seen == [3]
        assert sorted(resumed.asked) == [plan.windows[3], plan.windows[4]]  # only the missing windows
        assert json.dumps(build_report(plan, outcomes), sort_keys=True) == json.dumps(
            expected, sort_keys=True
        )

        again = Counting()  # everything stored: nothing is asked
        store = await TriageStore.open(db, _key(plan))
        assert len(await _collect(again, plan, store)) == 5 and again.asked == []
        await store.aclose()

    asyncio.run(go())


def test_a_mismatched_or_foreign_file_is_refused(vtest: Path, tmp_path: Path) -> None:
    db = tmp_path / "progress.sqlite"

    async def go() -> None:
        plan = await plan_triage(str(vtest), QUERY, window_s=20, overlap_s=5)
        store = await TriageStore.open(db, _key(plan))
        await store.aclose()
        with pytest.raises(
            ConfigError, match=r"another triage \(query 'a person walks along the path' there"
        ):
            await TriageStore.open(db, _key(plan, query="a dog"))
        with pytest.raises(ConfigError, match="model 'scripted-fake' there, 'other' now"):
            await TriageStore.open(db, _key(plan, model="other"))
        foreign = tmp_path / "notes.txt"
        foreign.write_text("not a database " * 100)
        with pytest.raises(ConfigError, match="is not a vt-agent triage progress file"):
            await TriageStore.open(foreign, _key(plan))
        with pytest.raises(ConfigError, match="is a folder"):
            await TriageStore.open(tmp_path, _key(plan))

    asyncio.run(go())


class FailingWindow(Counting):
    """Window ``bad`` ends in a backend error (a window's error, not a crash)."""

    def __init__(self, bad: tuple[float, float]) -> None:
        super().__init__()
        self.bad = bad

    def astream(self, videos: Sequence[str], question: str, options: Sequence[str] | None = None, *,
                window: tuple[float, float] | None = None, preset: str | None = None) -> AsyncIterator[Any]:  # fmt: skip
        stream = super().astream(videos, question, options, window=window, preset=preset)
        if window != self.bad:
            return stream

        async def failing() -> AsyncIterator[Any]:
            raise BackendError("the server went away")
            yield  # an async generator

        return failing()


def test_errored_windows_are_asked_again(vtest: Path, tmp_path: Path) -> None:
    async def go() -> None:
        plan = await plan_triage(str(vtest), QUERY, window_s=20, overlap_s=5)
        store = await TriageStore.open(tmp_path / "p.sqlite", _key(plan))
        first = await _collect(FailingWindow(plan.windows[1]), plan, store)
        assert [o["index"] for o in first if o.get("error")] == [1]
        assert sorted(o["index"] for o in await store.outcomes()) == [0, 2, 3, 4]
        again = Counting()
        second = await _collect(again, plan, store)
        await store.aclose()
        assert again.asked == [plan.windows[1]] and not any(o.get("error") for o in second)

    asyncio.run(go())


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "vt_agent.cli", "triage", *args]


def test_cli_killed_mid_run_resumes(vtest: Path, tmp_path: Path) -> None:
    """A real kill (SIGKILL) of `vt-agent triage --resume`, then a rerun: same report, the stored windows skipped."""
    db = tmp_path / "t.sqlite"
    common = [str(vtest), QUERY, "--window", "20", "--overlap", "5", "--backend", "fake", "--json", "-q"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    slow = subprocess.Popen(
        _cli(*common, "--concurrency", "1", "--backend-option", "delay_s=0.01", "--resume", str(db)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env=env,
    )
    stored = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and stored < 2:
            time.sleep(0.2)
            if db.exists():
                try:
                    with sqlite3.connect(db) as conn:
                        stored = conn.execute("SELECT count(*) FROM windows").fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0  # tables not created yet
    finally:
        slow.send_signal(signal.SIGKILL)
        slow.wait()
    assert 2 <= stored < 5, f"the run was not caught mid-way ({stored} windows stored)"
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM windows").fetchone()[0]

    resumed = subprocess.run(
        _cli(*common, "--resume", str(db)), capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {db}: {stored} of 5 window(s) already done" in resumed.stderr
    plain = subprocess.run(_cli(*common), capture_output=True, text=True, cwd=ROOT, env=env)
    assert json.loads(resumed.stdout) == json.loads(plain.stdout)


def test_cli_default_file_and_mismatch(
    vtest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vt_agent.cli import main
    from vt_agent.commands.triage import default_resume_path

    assert default_resume_path("a/b/rec.mp4", tmp_path / "r.html") == tmp_path / "r.triage.sqlite"
    assert default_resume_path("a/b/rec.mp4", None) == Path("rec.triage.sqlite")
    html = tmp_path / "r.html"
    base = [str(vtest), "--window", "40", "--overlap", "0", "--backend", "fake", "-q", "--html", str(html)]
    assert main(["triage", str(vtest), QUERY, *base[1:], "--resume", "--no-thumbnails"]) == 0
    assert (tmp_path / "r.triage.sqlite").is_file()
    capsys.readouterr()
    assert main(["triage", str(vtest), "another query", *base[1:], "--resume"]) == 2
    err = capsys.readouterr().err
    assert "holds the progress of another triage" in err and "delete this one" in err


def _off_loop(calls: list[str]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        calls.append("thread")
        return
    raise AssertionError("a SQLite call ran on the event loop")


class _GuardedConnection:
    """A sqlite3 connection that fails any call made on the event loop's thread."""

    def __init__(self, conn: sqlite3.Connection, calls: list[str]) -> None:
        self._conn, self._calls = conn, calls

    def execute(self, *args: Any) -> sqlite3.Cursor:
        _off_loop(self._calls)
        return self._conn.execute(*args)

    def close(self) -> None:
        _off_loop(self._calls)
        self._conn.close()


def test_sqlite_never_runs_on_the_event_loop(
    vtest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vt_agent.triage_resume as module

    calls: list[str] = []
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> _GuardedConnection:
        _off_loop(calls)
        return _GuardedConnection(real_connect(*args, **kwargs), calls)

    monkeypatch.setattr(module.sqlite3, "connect", connect)

    async def go() -> None:
        plan = await plan_triage(str(vtest), QUERY, window_s=40, overlap_s=0)
        store = await TriageStore.open(tmp_path / "p.sqlite", _key(plan))
        assert len(await _collect(Counting(), plan, store)) == 2
        await store.aclose()

    asyncio.run(go())
    assert len(calls) >= 8  # connect, schema, key, reads, two writes, close: all in threads
