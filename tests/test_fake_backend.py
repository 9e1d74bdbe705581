"""The scripted fake backend: chunking, script choice, cancellation, close."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from vt_agent.backends.base import Backend, Delta, GenerationRequest, PreparedVideo
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.backends.fake_traces import SCRIPTS, FakeTrace, question_from_messages
from vt_agent.errors import BackendError, ConfigError
from vt_agent.prompts import build_messages, build_question
from vt_agent.result import SamplingRecord
from vt_agent.trace import TraceParser, parse_trace

DURATIONS = {"bigbuckbunny.mp4": 5.31, "cityCC0.mpg": 7.6, "vtest.avi": 79.5}


def _video(path: Path, duration: float, window: tuple[float, float] | None = None) -> PreparedVideo:
    record = SamplingRecord(
        path=str(path),
        file_id="test",
        preset="video-thinker-16f",
        window=window,
        duration_s=duration,
        decoded_frames=16,
        indices=list(range(16)),
        timestamps_s=[i * duration / 16 for i in range(16)],
        sampled_fps=16 / duration,
        second_per_grid_ts=2 * duration / 16,
        resized=(28, 28),
        grid_thw=(8, 2, 2),
        video_tokens=8,
    )
    return PreparedVideo(np.zeros((16, 28, 28, 3), np.uint8), record)


def _request(
    question: str, options: list[str] | None, path: Path | None = None, **kw: object
) -> GenerationRequest:
    videos = [] if path is None else [_video(path, DURATIONS.get(path.name, 10.0), **kw)]  # type: ignore[arg-type]
    return GenerationRequest(messages=build_messages(build_question(question, options)), videos=videos)


async def _collect(backend: FakeBackend, request: GenerationRequest) -> list[Delta]:
    return [d async for d in backend.stream(request)]


def test_is_a_backend() -> None:
    b = FakeBackend()
    assert isinstance(b, Backend)
    assert (b.name, b.model, b.scripted) == ("fake", "scripted-fake", True)


def test_streams_a_script_in_chunks_with_a_final_finish_reason() -> None:
    b = FakeBackend("bbb-animal", chunk_chars=5)
    deltas = asyncio.run(_collect(b, _request("What animal is the main character?", None)))
    text = SCRIPTS["bbb-animal"].text
    assert "".join(d.text for d in deltas) == text
    assert all(len(d.text) == 5 for d in deltas[:-1])
    assert [d.finish_reason for d in deltas[:-1]] == [None] * (len(deltas) - 1)
    assert deltas[-1].finish_reason == "stop"
    assert b.chunks_sent == len(deltas) == -(-len(text) // 5)
    assert b.chosen == ["bbb-animal"] and len(b.requests) == 1


def test_truncated_script_finishes_with_length() -> None:
    deltas = asyncio.run(_collect(FakeBackend("truncated"), _request("q", None)))
    assert deltas[-1].finish_reason == "length"


def test_script_as_text_list_and_callable() -> None:
    req = _request("q", ["x", "y"])
    assert "".join(d.text for d in asyncio.run(_collect(FakeBackend("<answer>D</answer>"), req))) == (
        "<answer>D</answer>"
    )
    cyc = FakeBackend(["nested", "empty-answer"])
    for _ in range(3):
        asyncio.run(_collect(cyc, req))
    assert cyc.chosen == ["nested", "empty-answer", "nested"]
    fn = FakeBackend(lambda r: f"<answer>{len(r.messages)}</answer>")
    assert "".join(d.text for d in asyncio.run(_collect(fn, req))) == "<answer>2</answer>"
    custom = FakeTrace(name="mine", text="cut", description="x", finish_reason="length")
    assert asyncio.run(_collect(FakeBackend(custom), req))[-1] == Delta("cut", "length")
    assert asyncio.run(_collect(FakeBackend(""), req)) == [Delta("", "stop")]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"script": "no-such-script"}, "no fake script named"),
        ({"script": []}, "empty"),
        ({"script": 3}, "cannot use int"),
        ({"chunk_chars": 0}, "chunk_chars"),
        ({"delay_s": -1}, "delay_s"),
    ],
)
def test_bad_options(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        FakeBackend(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "question", "options", "script"),
    [
        ("bigbuckbunny.mp4", "What animal is the main character?", ["A fox", "A grey rabbit", "A squirrel", "A bear"],
         "bbb-animal"),
        ("bigbuckbunny.mp4", "What does he do in the middle of the clip?", ["Eats a flower", "Stretches", "x", "y"],
         "bbb-middle"),
        ("cityCC0.mpg", "How many distinct camera shots does the clip contain?", ["1", "2", "3", "4"], "city-shots"),
        ("cityCC0.mpg", "In the second shot, which of the two main towers is taller?", ["L", "R", "Same"],
         "city-taller"),
        ("vtest.avi", "What vehicle is parked in front of the brick building?", ["bus", "van", "bike", "tractor"],
         "vtest-vehicle"),
        ("vtest.avi", "Which object stands on the lawn for the whole video?", ["tripod", "bike", "bench", "dog"],
         "vtest-tripod"),
    ],
)  # fmt: skip
def test_default_chooser_matches_bundled_clip_questions(
    videos_dir: Path, name: str, question: str, options: list[str], script: str
) -> None:
    b = FakeBackend()
    text = "".join(d.text for d in asyncio.run(_collect(b, _request(question, options, videos_dir / name))))
    assert b.chosen == [script]
    parsed = parse_trace(text, duration_s=DURATIONS[name])
    assert parsed.answer == SCRIPTS[script].expected_answer
    assert parsed.format.ok and parsed.warnings == []  # spans lie within the clip


def test_clip_scripts_are_not_used_for_another_clip(videos_dir: Path) -> None:
    b = FakeBackend()
    asyncio.run(
        _collect(b, _request("What animal is the main character?", ["a", "b"], videos_dir / "vtest.avi"))
    )
    assert b.chosen == ["generic"]


@pytest.mark.parametrize("duration", [3.0, 7.6, 79.5, 4000.0])
def test_generic_trace_stays_within_the_clip(tmp_path: Path, duration: float) -> None:
    b = FakeBackend()
    path = tmp_path / "other.mp4"
    DURATIONS[path.name] = duration
    text = "".join(d.text for d in asyncio.run(_collect(b, _request("Anything?", ["p", "q", "r"], path))))
    assert b.chosen == ["generic"]
    parsed = parse_trace(text, duration_s=duration)
    assert parsed.answer == "A" and parsed.format.ok, parsed.format.problems
    assert parsed.warnings == []
    assert len(parsed.segments) == 3
    assert parsed.segments[-1].end_s == pytest.approx(round(duration), abs=1.0)
    assert "Scripted placeholder" in (parsed.segments[0].caption or "")


def test_generic_trace_uses_the_window_length(tmp_path: Path) -> None:
    b = FakeBackend()
    req = _request("Anything?", None, tmp_path / "long.mp4", window=(60.0, 70.0))
    text = "".join(d.text for d in asyncio.run(_collect(b, req)))
    parsed = parse_trace(text, duration_s=10.0, window_start_s=60.0)
    assert parsed.warnings == []
    assert parsed.segments[-1].end_s == 70.0
    assert parsed.answer is None  # open question: the scripted answer names no letter


def test_question_from_messages_undoes_the_template() -> None:
    q = build_question("Is it night?", ["Day", "Night"])
    assert question_from_messages(build_messages(q)) == q
    assert question_from_messages(build_messages(q, no_system=True)) == q
    assert question_from_messages([{"role": "user", "content": "hello"}]) == "hello"


def test_aclose_stops_generation_immediately() -> None:
    async def run() -> tuple[int, int]:
        b = FakeBackend("bbb-animal", chunk_chars=1)
        agen = b.stream(_request("q", None))
        got = 0
        async for _ in agen:
            got += 1
            if got == 3:
                break
        await agen.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
        return got, b.chunks_sent

    got, sent = asyncio.run(run())
    assert got == sent == 3


def test_cancelling_the_consumer_stops_generation() -> None:
    async def run() -> tuple[int, int]:
        b = FakeBackend("bbb-animal", chunk_chars=1, delay_s=0.01)
        received: list[Delta] = []

        async def consume() -> None:
            async for d in b.stream(_request("q", None)):
                received.append(d)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.055)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent_at_cancel = b.chunks_sent
        await asyncio.sleep(0.05)
        assert b.chunks_sent == sent_at_cancel
        return len(received), sent_at_cancel

    got, sent = asyncio.run(run())
    assert 1 <= got == sent < len(SCRIPTS["bbb-animal"].text)


def test_delay_between_chunks() -> None:
    async def run() -> float:
        b = FakeBackend("<answer>A</answer>", chunk_chars=6, delay_s=0.02)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await _collect(b, _request("q", None))
        return loop.time() - t0

    assert asyncio.run(run()) >= 0.055  # 3 chunks, 0.02 s before each


def test_close_is_idempotent_and_final() -> None:
    async def run() -> None:
        b = FakeBackend("bbb-animal")
        agen = b.stream(_request("q", None))
        first = await agen.__anext__()
        assert first.text
        await b.close()
        await b.close()
        with pytest.raises(BackendError):
            await agen.__anext__()
        with pytest.raises(BackendError):
            b.stream(_request("q", None))

    asyncio.run(run())


def test_streamed_deltas_parse_like_the_whole_text() -> None:
    async def run() -> None:
        for name, script in SCRIPTS.items():
            parser = TraceParser(duration_s=5.31)
            events = []
            async for d in FakeBackend(name, chunk_chars=3).stream(_request("q", None)):
                events += parser.feed(d.text)
            events += parser.close()
            assert parser.answer == script.expected_answer, name

    asyncio.run(run())


def test_paced_engine_takes_at_most_concurrency_requests_at_once() -> None:
    import asyncio

    from vt_agent.backends.base import GenerationRequest
    from vt_agent.backends.fake_backend import FakeBackend

    backend = FakeBackend("<answer>A</answer>", request_s=0.01, concurrency=2)
    active = most = 0

    async def one() -> str:
        nonlocal active, most
        parts = []
        request = GenerationRequest(messages=[{"role": "user", "content": "q"}], videos=[])
        async for delta in backend.stream(request):
            if not parts:
                active += 1
                most = max(most, active)
            parts.append(delta.text)
        active -= 1
        return "".join(parts)

    async def run() -> list[str]:
        return list(await asyncio.gather(*(one() for _ in range(6))))

    assert asyncio.run(run()) == ["<answer>A</answer>"] * 6
    assert most == 2
    assert asyncio.run(run()) == ["<answer>A</answer>"] * 6  # a new event loop gets its own slots


def test_paced_engine_settings_are_checked() -> None:
    import pytest

    from vt_agent.backends.fake_backend import FakeBackend
    from vt_agent.errors import ConfigError

    with pytest.raises(ConfigError, match="request_s"):
        FakeBackend(request_s=-1)
    with pytest.raises(ConfigError, match="concurrency"):
        FakeBackend(concurrency=0)
