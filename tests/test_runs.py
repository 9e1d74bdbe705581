"""vt_agent.runs: the drain from events to a Result, plain text generation, the agent view; the window rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import BackendError, ConfigError, NoResultError, VTAgentError, WindowError
from vt_agent.events import FinishedEvent, ProgressEvent, ReasonerEvent, SegmentClosed, TokenEvent
from vt_agent.reasoner import VideoReasoner
from vt_agent.result import FormatCheck, Result, SamplingRecord, Segment
from vt_agent.runs import (
    TOOL_PURPOSE,
    agent_result,
    answer_line,
    caption_line,
    collect_text,
    drain,
    generate_text,
    span_label,
    summary_text,
)
from vt_agent.spans import check_window, seen_span

BBB_OPTIONS = ["Eats a flower", "Stretches his arms and yawns", "Jumps into a river", "Waves at a bird"]


# ------------------------------------------------------------------------------ drain


def test_drain_returns_the_result_and_sees_every_event(bbb: Path) -> None:
    seen: list[ReasonerEvent] = []
    reasoner = VideoReasoner(FakeBackend("bbb-middle", chunk_chars=5))
    result = asyncio.run(
        drain(reasoner.astream([str(bbb)], "What happens in the middle?", BBB_OPTIONS), seen.append)
    )
    assert result.answer == "B" and result.format.ok
    assert isinstance(seen[-1], FinishedEvent) and seen[-1].result is result
    assert "".join(e.text for e in seen if isinstance(e, TokenEvent)) == result.trace
    assert [e.segment for e in seen if isinstance(e, SegmentClosed)] == result.segments


class _Events:
    """An event stream that records whether it was closed."""

    def __init__(self, events: list[ReasonerEvent]) -> None:
        self.events = events
        self.closed = False

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> ReasonerEvent:
        if self.closed or not self.events:
            raise StopAsyncIteration
        return self.events.pop(0)

    async def aclose(self) -> None:
        self.closed = True


def test_drain_without_a_result_raises_one_error_and_closes() -> None:
    stream = _Events([ProgressEvent("decode", "sampling", 0.0), TokenEvent("<time>")])
    with pytest.raises(NoResultError, match="ended without a result") as exc:
        asyncio.run(drain(stream))
    assert stream.closed
    # one error in the tree: callers that catch BackendError or VTAgentError still catch it
    assert isinstance(exc.value, BackendError) and isinstance(exc.value, VTAgentError)


def test_drain_closes_the_stream_when_the_callback_fails() -> None:
    stream = _Events([TokenEvent("a"), TokenEvent("b")])

    def stop(event: ReasonerEvent) -> None:
        raise RuntimeError("consumer gave up")

    with pytest.raises(RuntimeError, match="gave up"):
        asyncio.run(drain(stream, stop))
    assert stream.closed and stream.events == [TokenEvent("b")]


def test_drain_stops_generation_when_cancelled(bbb: Path) -> None:
    backend = FakeBackend("bbb-middle", chunk_chars=1, delay_s=0.01)
    reasoner = VideoReasoner(backend)

    async def main() -> None:
        task = asyncio.ensure_future(drain(reasoner.astream([str(bbb)], "What happens?", BBB_OPTIONS)))
        while backend.chunks_sent < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    sent = backend.chunks_sent
    assert sent < len(backend.pick(backend.requests[0]).text)


# ------------------------------------------------------------------------------ generate_text


def test_generate_text_on_a_window(bbb: Path) -> None:
    backend = FakeBackend("<think>A rabbit.</think> <answer>rabbit</answer>", chunk_chars=4)
    reasoner = VideoReasoner(backend, max_tokens=77)
    messages = [
        {"role": "user", "content": [{"type": "video", "video": 0}, {"type": "text", "text": "Who?"}]}
    ]
    out = asyncio.run(generate_text(reasoner, bbb, messages, window=(1.0, 4.0)))
    assert out.text == "<think>A rabbit.</think> <answer>rabbit</answer>" and out.finish_reason == "stop"
    request = backend.requests[0]
    assert request.messages == messages and request.max_tokens == 77
    assert (request.temperature, request.top_p) == (reasoner.temperature, reasoner.top_p)
    assert len(out.videos) == 1 and out.videos[0].window is not None
    assert seen_span(out.videos[0]) == pytest.approx((1.0, 3.0), abs=0.05)
    t = out.timings
    assert t.generated_chars == len(out.text) and t.first_token_s is not None
    assert 0 <= t.decode_s <= t.first_token_s <= t.total_s


def test_generate_text_limits_and_errors(bbb: Path) -> None:
    backend = FakeBackend("truncated")
    reasoner = VideoReasoner(backend, concurrency=1)
    out = asyncio.run(generate_text(reasoner, [bbb], [{"role": "user", "content": []}], max_tokens=5))
    assert out.finish_reason == "length" and backend.requests[0].max_tokens == 5
    with pytest.raises(ConfigError, match="max_tokens"):
        asyncio.run(generate_text(reasoner, bbb, [], max_tokens=0))
    with pytest.raises(ConfigError, match="end after it starts"):
        asyncio.run(generate_text(reasoner, bbb, [], window=(3.0, 2.0)))


def test_generate_text_loads_a_lazy_backend_once(bbb: Path) -> None:
    class Lazy(FakeBackend):
        loads = 0
        loaded = False

        async def load(self) -> None:
            await asyncio.sleep(0)
            type(self).loads += 1
            self.loaded = True

    backend = Lazy("<answer>A</answer>")
    reasoner = VideoReasoner(backend)

    async def main() -> None:
        await reasoner.load()
        await asyncio.gather(*(generate_text(reasoner, bbb, []) for _ in range(3)))

    asyncio.run(main())
    assert Lazy.loads == 1 and len(backend.requests) == 3


def test_collect_text_for_a_text_only_request() -> None:
    from vt_agent.backends.base import GenerationRequest

    backend = FakeBackend("Answer: B", chunk_chars=2)
    request = GenerationRequest(messages=[{"role": "user", "content": "Which?"}], videos=[], max_tokens=9)
    text, finish, first = asyncio.run(collect_text(backend, request))
    assert (text, finish) == ("Answer: B", "stop") and first is not None and first >= 0
    assert backend.requests == [request] and backend.chunks_sent == 5


# ------------------------------------------------------------------------------ the window rule


def test_one_window_rule() -> None:
    assert check_window(None) is None
    assert check_window((0, 2)) == (0.0, 2.0)
    assert check_window([1.5, 3]) == (1.5, 3.0)
    with pytest.raises(ConfigError, match="end after it starts"):
        check_window((3.0, 1.0))
    with pytest.raises(ConfigError, match="end after it starts"):
        check_window((2.0, 2.0))
    with pytest.raises(ConfigError, match="0 s or later"):
        check_window((-1.0, 2.0))
    with pytest.raises(ConfigError, match="finite"):
        check_window((float("nan"), 2.0))
    with pytest.raises(ConfigError, match=r"\(start_s, end_s\)"):
        check_window((1.0,))
    with pytest.raises(ConfigError, match=r"--end \(2\) is not after --start \(3\)"):
        check_window((3.0, 2.0), names=("--start", "--end"))


def test_reasoner_uses_the_window_rule(bbb: Path) -> None:
    reasoner = VideoReasoner(FakeBackend())
    with pytest.raises(ConfigError, match="0 s or later"):
        reasoner.reason(bbb, "q", window=(-1.0, 2.0))
    with pytest.raises(WindowError):  # inside the rule, outside the clip: the video says so
        reasoner.reason(bbb, "q", window=(50.0, 60.0))


# ------------------------------------------------------------------------------ the agent view


def _record(path: str) -> SamplingRecord:
    return SamplingRecord(
        path=path,
        file_id="x",
        preset="video-thinker-16f",
        duration_s=10.0,
        decoded_frames=100,
        indices=[0],
        timestamps_s=[0.0],
        sampled_fps=1.0,
        second_per_grid_ts=2.0,
        resized=(28, 28),
        grid_thw=(1, 2, 2),
        video_tokens=1,
    )


def _result(**update: object) -> Result:
    segs = [
        Segment(
            index=0, time_text="00:00-00:02", start_s=0.0, end_s=2.0, start="00:00", end="00:02", caption="A"
        ),
        Segment(index=1, video=1, time_text="soon", caption="line one\nline two", think="t"),
    ]
    base = Result(
        question="q",
        options=["A. x", "B. y"],
        answer="B",
        answer_text="B",
        segments=segs,
        format=FormatCheck(ok=True),
        videos=[_record("/a.mp4")],
        model="m",
    )
    return base.model_copy(update=update)


def test_span_label_and_caption_line() -> None:
    seg = _result().segments
    assert span_label(seg[0]) == "00:00-00:02" and span_label(seg[1]) == "soon"
    assert span_label(seg[0].model_dump(mode="json")) == "00:00-00:02"
    assert span_label({"start": None, "time_text": "later"}) == "later"
    assert caption_line(" a\nb ") == "a b" and caption_line(None) == ""
    assert caption_line("x" * 200) == "x" * 157 + "..." and len(caption_line("y" * 50, 20)) == 20


def test_summary_text() -> None:
    text = summary_text(_result())
    assert text.splitlines() == ["Answer: B. y", "- 00:00-00:02: A", "- soon: line one line two"]
    many = [Segment(index=i, time_text=f"{i}", caption="c") for i in range(10)]
    text = summary_text(
        _result(
            answer=None,
            answer_text="maybe",
            scripted=True,
            segments=many,
            videos=[_record("/a.mp4"), _record("/b.mp4")],
            format=FormatCheck(ok=False, problems=["p1", "p2", "p3", "p4"]),
            finish_reason="length",
        )
    )
    lines = text.splitlines()
    assert lines[0] == "Answer: none of the options found (the model wrote: maybe)" and lines[1].startswith(
        "NOTE: a scripted fake backend"
    )
    assert lines[2] == "- video 1 0: c" and lines[9] == "- video 1 7: c"
    assert lines[10] == "- ... 2 more segments in the structured result"
    assert lines[11] == "Trace format problems: p1; p2; p3"
    assert lines[12] == "The output was cut off at the token limit."
    # the JSON form reads the same
    assert summary_text(_result().model_dump(mode="json")) == summary_text(_result())


def test_answer_line_gives_the_option_text_with_the_letter() -> None:
    yawn = ["A. Sits down", "B. Stretches his arms and yawns"]
    assert (
        answer_line(_result(options=yawn, answer="B", answer_text="B"))
        == "Answer: B. Stretches his arms and yawns"
    )
    assert answer_line(_result(options=yawn, answer="B", answer_text="(B)")).endswith("and yawns")
    said = answer_line(_result(options=yawn, answer="B", answer_text="he yawns, so B"))
    assert said == "Answer: B. Stretches his arms and yawns (the model wrote: he yawns, so B)"
    # options given without letters still show the letter once; an open question shows its answer
    assert answer_line(_result(options=["sleeps", "eats"], answer="B", answer_text="B")) == "Answer: B. eats"
    assert answer_line(_result(options=[], answer=None, answer_text="a red car")) == "Answer: a red car"
    assert answer_line(_result(options=[], answer=None, answer_text=None)) == "Answer: (none found)"
    assert answer_line(_result(options=yawn, answer="B").model_dump(mode="json")).startswith(
        "Answer: B. Stretches"
    )


def test_agent_result_from_a_result_and_from_a_graph_output() -> None:
    result = _result(warnings=["w"])
    view = agent_result(result)
    assert list(view) == [
        "answer",
        "answer_text",
        "options",
        "segments",
        "format_ok",
        "attempts",
        "warnings",
        "model",
        "scripted",
        "source",
        "answer_fallback",
    ]
    assert view["segments"][0] == {
        "video": 0,
        "span": "00:00-00:02",
        "start_s": 0.0,
        "end_s": 2.0,
        "caption": "A",
        "think": None,
        "confirmed": None,
    }
    assert view["segments"][1]["span"] == "soon" and view["segments"][1]["video"] == 1
    assert (view["answer"], view["format_ok"], view["attempts"], view["warnings"]) == ("B", True, 1, ["w"])
    data = result.model_dump(mode="json")
    checked = [{**s, "confirmed": i == 0} for i, s in enumerate(data["segments"])]
    from_json = agent_result(data, segments=checked, attempts=2)
    assert [s["confirmed"] for s in from_json["segments"]] == [True, False]
    assert {k: v for k, v in from_json.items() if k not in ("segments", "attempts")} == {
        k: v for k, v in view.items() if k not in ("segments", "attempts")
    }
    assert from_json["attempts"] == 2
    assert "Video-Thinker" in TOOL_PURPOSE and "letter" in TOOL_PURPOSE
