"""vt_agent.triage, the core without LangGraph: plan, per-window outcomes as they end, resume, report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("av")

from vt_agent.backends.base import GenerationRequest
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import ConfigError, VideoError
from vt_agent.reasoner import VideoReasoner
from vt_agent.result import mmss
from vt_agent.triage import build_report, plan_triage, scan_windows, triage

QUERY = "someone crosses the lawn"
EVENT = (33.0, 38.0)


def event_script(request: GenerationRequest) -> str:
    """Yes with the event's window-local span when the window holds the whole event, else No."""
    window = request.videos[0].record.window
    assert window is not None
    start, end = window
    if start <= EVENT[0] and EVENT[1] <= end:
        span = f"{mmss(EVENT[0] - start)}-{mmss(EVENT[1] - start)}"
        return (
            f"<time>{span}</time><caption>A person crosses.</caption><think>Here.</think>\n<answer>A</answer>"
        )
    return f"<time>00:00-{mmss(end - start)}</time><caption>Nobody.</caption><think>No.</think>\n<answer>B</answer>"


def test_triage_in_one_call(vtest: Path) -> None:
    backend = FakeBackend(event_script)
    report = asyncio.run(triage(VideoReasoner(backend), str(vtest), QUERY, window_s=20, overlap_s=5))
    assert [(w["start_s"], w["end_s"]) for w in report["windows"]] == [
        (0.0, 20.0), (15.0, 35.0), (30.0, 50.0), (45.0, 65.0), (60.0, 79.5),
    ]  # fmt: skip
    assert [w["index"] for w in report["windows"]] == [0, 1, 2, 3, 4]
    top = report["findings"][0]
    assert (top["start_s"], top["end_s"], top["confidence"], top["windows"]) == (*EVENT, 1.0, [2])
    assert report["options"] == ["A. Yes", "B. No"] and report["errors"] == []
    assert report["backend"] == "fake" and report["scripted"] is True
    assert len(backend.requests) == 5


def test_outcomes_stream_and_resume(vtest: Path) -> None:
    """Outcomes arrive one per window; scanning the rest later gives the same report."""

    async def go() -> tuple[dict[str, Any], dict[str, Any], int]:
        reasoner = VideoReasoner(FakeBackend(event_script))
        plan = await plan_triage(str(vtest), QUERY, window_s=20, overlap_s=5)
        whole = [o async for o in scan_windows(reasoner, plan, concurrency=3)]
        first = [o async for o in scan_windows(reasoner, plan, indices=[0, 2])]
        rest = [o async for o in scan_windows(reasoner, plan, indices=[1, 3, 4])]
        assert sorted(o["index"] for o in first) == [0, 2]
        return build_report(plan, whole), build_report(plan, first + rest), len(whole)

    whole, resumed, n = asyncio.run(go())
    assert n == 5
    assert resumed == whole


def test_concurrency_bounded_and_early_close_cancels(vtest: Path) -> None:
    state = {"now": 0, "peak": 0, "started": 0}

    class Slow(FakeBackend):
        async def _stream(self, text: str, finish: Any) -> Any:  # type: ignore[override]
            state["now"] += 1
            state["started"] += 1
            state["peak"] = max(state["peak"], state["now"])
            try:
                await asyncio.sleep(0.2)
                async for d in super()._stream(text, finish):
                    yield d
            finally:
                state["now"] -= 1

    async def go() -> None:
        reasoner = VideoReasoner(Slow(event_script))
        plan = await plan_triage(str(vtest), QUERY, window_s=10, overlap_s=0)
        outcomes = [o async for o in scan_windows(reasoner, plan, concurrency=2)]
        assert len(outcomes) == 8 and all(o["answer"] in ("A", "B") for o in outcomes)
        assert 1 <= state["peak"] <= 2
        state["started"] = 0
        stream = scan_windows(reasoner, plan, concurrency=2)
        await anext(stream)
        at_close = state["started"]  # windows prepared ahead start as soon as an engine slot frees
        await stream.aclose()  # stops the windows in flight, starts no more
        await asyncio.sleep(0.3)
        assert state["now"] == 0 and state["started"] == at_close <= 4

    asyncio.run(go())


def test_a_failed_window_is_an_outcome(vtest: Path) -> None:
    class FailingSecond(FakeBackend):
        def stream(self, request: GenerationRequest) -> Any:
            window = request.videos[0].record.window
            if window is not None and window[0] == 15.0:
                from vt_agent.errors import BackendError

                raise BackendError("scripted failure for window 15-35")
            return super().stream(request)

    report = asyncio.run(
        triage(VideoReasoner(FailingSecond(event_script)), str(vtest), QUERY, window_s=20, overlap_s=5)
    )
    assert report["errors"] == [
        {"window": 1, "start_s": 15.0, "end_s": 35.0, "message": "scripted failure for window 15-35"}
    ]
    assert report["windows"][1]["answer"] is None and report["findings"][0]["start_s"] == EVENT[0]


def test_bad_input(vtest: Path, tmp_path: Path) -> None:
    reasoner = VideoReasoner(FakeBackend(event_script))
    with pytest.raises(ConfigError, match="query"):
        asyncio.run(plan_triage(str(vtest), "  "))
    with pytest.raises(ConfigError, match="overlap"):
        asyncio.run(plan_triage(str(vtest), QUERY, window_s=10, overlap_s=10))
    with pytest.raises(VideoError):
        asyncio.run(plan_triage(str(tmp_path / "nope.avi"), QUERY))

    async def scan(**kw: Any) -> None:
        plan = await plan_triage(str(vtest), QUERY, window_s=40, overlap_s=0)
        async for _ in scan_windows(reasoner, plan, **kw):
            pass

    with pytest.raises(ConfigError, match="concurrency"):
        asyncio.run(scan(concurrency=0))
    with pytest.raises(ConfigError, match="window index 2"):
        asyncio.run(scan(indices=[0, 2]))
    with pytest.raises(ConfigError, match="repeat"):
        asyncio.run(scan(indices=[1, 1]))
