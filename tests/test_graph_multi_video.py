"""graphs.multi_video over the bundled clips: each question kind, "None", a failed video, the chat
synthesis, joint mode, 50 videos with bounded concurrency.

The scripted backend answers from what each clip really shows (tests/data/multi_video/questions.json,
checked against the clips' README and contact sheets) and from the sub-question asked; it refuses a
single-video request whose options name videos, so forwarding the user's options fails the tests.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("av")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from graphs import GraphContext
from graphs.multi_video import build_graph, graph
from vt_agent.backends.base import Delta, GenerationRequest
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.backends.fake_traces import question_from_messages
from vt_agent.errors import ConfigError, ContextLengthError
from vt_agent.multi.plan import plan_question
from vt_agent.multi.refs import video_refs
from vt_agent.reasoner import VideoReasoner
from vt_agent.result import mmss

DATA = json.loads(
    (Path(__file__).parent / "data" / "multi_video" / "questions.json").read_text(encoding="utf-8")
)
FACTS: dict[str, dict[str, Any]] = DATA["facts"]
QUESTIONS: list[dict[str, Any]] = DATA["questions"]
CLIPS = ["cityCC0.mpg", "vtest.avi", "bigbuckbunny.mp4"]
_OPTION = re.compile(r"^[A-O]\. (.*)$", re.M)


def trace(start: float, end: float, caption: str, answer: str) -> str:
    return (
        f"<time>{mmss(start)}-{mmss(end)}</time><caption>{caption}</caption><think>Seen.</think>\n"
        f"<answer>{answer}</answer>"
    )


def answer_alone(stem: str, question: str) -> str:
    """What a careful model would answer about clip ``stem`` for ``question`` (from FACTS)."""
    facts = FACTS[stem]
    low = question.lower()
    if "Options:\nA. Yes\nB. No" in question:
        keys = [k for k, v in facts.items() if isinstance(v, list) and len(v) in (1, 4) and k in low]
        assert len(keys) == 1, f"the scripted clips know no single fact for {question!r}"
        fact = facts[keys[0]]
        if fact[0]:
            return trace(fact[1], fact[2], fact[3], "A")
        return trace(0.0, 1.0, "Nothing like that is visible.", "B")
    if low.startswith("how many people"):
        return trace(0.0, 2.0, "Counting the people in view.", str(facts["people"]))
    if low.startswith(("describe", "how crowded")):
        start, end, text = facts["describe"]
        return trace(start, end, text, text)
    if "day or at night" in low:
        return trace(0.0, 2.0, "The light of the scene.", "B" if facts["night"][0] else "A")
    raise AssertionError(f"the scripted backend has no answer for {question!r}")


def script(request: GenerationRequest) -> str:
    question = question_from_messages(request.messages)
    if len(request.videos) == 1:
        for text in _OPTION.findall(question):
            assert video_refs(text, CLIPS) is None, (
                f"a single video was given options naming videos: {question!r}"
            )
        return answer_alone(Path(request.videos[0].record.path).stem, question)
    # joint: the answer of a model that sees every video (Video 2 is the one with grass and a van)
    return (
        "<time>Video 2: 00:00-00:03</time><caption>A green lawn beside a path.</caption><think>Grass.</think>\n"
        "<answer>B</answer>"
    )


def ctx(backend: Any = None, **kw: Any) -> GraphContext:
    return GraphContext(reasoner=VideoReasoner(backend or FakeBackend(script)), **kw)


def chat(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


def inputs(videos_dir: Path, q: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "videos": [str(videos_dir / v) for v in q["videos"]],
        "question": q["question"],
        "options": q["options"],
        **extra,
    }


def question(qid: str) -> dict[str, Any]:
    return next(q for q in QUESTIONS if q["id"] == qid)


def test_question_set_covers_every_kind() -> None:
    assert len(QUESTIONS) >= 12
    assert {q["kind"] for q in QUESTIONS} == {
        "per_video", "selection", "counting", "comparison", "ordering", "synthesis"
    }  # fmt: skip
    for q in QUESTIONS:
        assert plan_question(q["question"], q["options"], q["videos"]).kind == q["kind"], q["id"]


@pytest.mark.parametrize("q", QUESTIONS, ids=[q["id"] for q in QUESTIONS])
def test_question_set_with_scripted_backend(q: dict[str, Any], videos_dir: Path) -> None:
    backend = FakeBackend(script)
    context = ctx(backend, chat_model=chat(q["chat_reply"]) if "chat_reply" in q else None)
    out = graph.invoke(inputs(videos_dir, q), context=context)
    assert out["kind"] == q["kind"]
    assert out["answer"] == q["answer"], out["warnings"]
    assert sorted({c["video"] for c in out["citations"]}) == q["cites"]
    assert out["partial"] is False and out["errors"] == []
    assert out["synthesis"] == ("chat" if "chat_reply" in q else "rules")
    assert [e["index"] for e in out["per_video"]] == list(range(len(q["videos"])))
    for entry in out["per_video"]:
        assert entry["used"] and entry["path"] == str(videos_dir / q["videos"][entry["index"]])
    if out["plan"]["sub"]["form"] == "duration":
        assert backend.requests == []  # durations come from the files
    else:
        assert len(backend.requests) == len(q["videos"])
        given = {str(videos_dir / v) for v in q["videos"]}
        for request in backend.requests:  # each video alone, the caller's path in its record
            assert len(request.videos) == 1 and request.videos[0].record.path in given


def test_selection_evidence_and_citations(videos_dir: Path) -> None:
    q = question("sel-van")
    events: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    for mode, chunk in graph.stream(inputs(videos_dir, q), context=ctx(), stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(chunk)
        else:
            final = chunk
    assert final["answer"] == "B" and final["answer_text"] == "Video 2 (vtest.avi)"
    city, vtest, bbb = final["per_video"]
    assert vtest["sub_question"] == "Is a parked white van visible in this video?"
    assert vtest["sub_options"] == ["Yes", "No"] and vtest["yes"] is True and city["yes"] is False
    assert vtest["used"] == "answered yes: selected" and bbb["used"] == "answered no: not selected"
    assert vtest["segments"][0]["caption"] == "A white van parked in front of the brick building."
    assert [(c["video"], c["start_s"]) for c in final["citations"]] == [(1, 0.0)]
    assert final["citations"][0]["path"] == str(videos_dir / "vtest.avi")
    assert events[0]["type"] == "plan" and events[0]["kind"] == "selection"
    done = [e for e in events if e["type"] == "video_done"]
    assert sorted(e["index"] for e in done) == [0, 1, 2] and {e["total"] for e in done} == {3}
    assert {e["video"] for e in events if e["type"] == "segment"} == {0, 1, 2}


def test_none_of_them_open_question(videos_dir: Path) -> None:
    out = graph.invoke(
        {"videos": [str(videos_dir / v) for v in CLIPS], "question": "Which video shows a boat on water?"},
        context=ctx(),
    )
    assert out["answer"] == "None of them" and out["citations"] == []
    assert all(e["used"] == "answered no: not selected" for e in out["per_video"])


def broken_video(tmp_path: Path) -> Path:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a video" * 50)
    return bad


def test_failed_video_is_named_and_the_answer_partial(videos_dir: Path, tmp_path: Path) -> None:
    bad = broken_video(tmp_path)
    q = question("count-grass")
    data = inputs(videos_dir, q)
    data["videos"].insert(1, str(bad))
    out = graph.invoke(data, context=ctx())
    assert out["partial"] is True
    assert [(e["index"], e["path"]) for e in out["errors"]] == [(1, str(bad))] and out["errors"][0]["message"]
    assert any("Video 2 (broken.mp4) failed" in w for w in out["warnings"])
    assert out["answer"] == "C"  # two videos with grass among those that could be used
    assert (
        out["answer_text"].startswith("at least 2")
        and "(partial: Video 2 (broken.mp4) failed)" in out["answer_text"]
    )


def test_all_videos_fail(tmp_path: Path) -> None:
    out = graph.invoke(
        {
            "videos": [str(broken_video(tmp_path)), str(tmp_path / "missing.mp4")],
            "question": "Which video shows a van?",
        },
        context=ctx(),
    )
    assert out["answer"] is None and out["synthesis"] == "none" and out["partial"] is True
    assert [e["index"] for e in out["errors"]] == [0, 1] and out["per_video"] == []


def test_chat_model_synthesis_gets_the_evidence(videos_dir: Path) -> None:
    q = question("syn-common-chat")
    model = chat(q["chat_reply"])
    seen: list[Any] = []
    original = model.ainvoke

    async def spy(messages: Any, *a: Any, **kw: Any) -> Any:
        seen.append(messages)
        return await original(messages, *a, **kw)

    object.__setattr__(model, "ainvoke", spy)
    out = graph.invoke(inputs(videos_dir, q), context=ctx(chat_model=model))
    assert out["synthesis"] == "chat" and out["answer"] == "B" and out["mode"] == "per_video"
    ((system, user),) = seen
    assert system[0] == "system" and "Answer: X" in system[1]
    text = user[1]
    assert 'Video 1 (vtest.avi) asked "Describe what this video shows' in text
    assert "00:00-01:20: A campus path with many pedestrians" in text
    assert "Options:\nA. Both are filmed at night\nB. Both show green grass\n" in text
    assert [e["used"] for e in out["per_video"]] == ["weighed by the chat model: cited"] * 2


def test_chat_reply_without_answer_line(videos_dir: Path) -> None:
    q = question("cmp-crowded-chat")
    out = graph.invoke(inputs(videos_dir, q), context=ctx(chat_model=chat("They differ.")))
    assert out["answer"] is None and out["synthesis"] == "none"
    assert any("no usable 'Answer:' line" in w for w in out["warnings"])


def test_joint_mode_chosen_without_chat_model(videos_dir: Path) -> None:
    q = question("syn-common-chat")
    backend = FakeBackend(script)
    out = graph.invoke(inputs(videos_dir, q), context=ctx(backend))
    assert out["mode"] == "joint" and out["synthesis"] == "joint" and out["answer"] == "B"
    (request,) = backend.requests
    assert [v.record.path for v in request.videos] == [str(videos_dir / v) for v in q["videos"]]
    labels = [c["text"] for c in request.messages[-1]["content"] if c.get("type") == "text"][:2]
    assert labels == ["Video 1: ", "Video 2: "]
    assert "Options:\nA. Both are filmed at night\n" in question_from_messages(request.messages)
    assert [(c["video"], c["caption"]) for c in out["citations"]] == [(1, "A green lawn beside a path.")]
    assert out["joint_result"]["answer"] == "B"


def test_mode_forced_by_the_caller(videos_dir: Path) -> None:
    q = question("sel-van")
    backend = FakeBackend(script)
    out = graph.invoke(inputs(videos_dir, q, mode="joint"), context=ctx(backend))
    assert out["mode"] == "joint" and len(backend.requests) == 1 and len(backend.requests[0].videos) == 3
    syn = question("syn-common-chat")
    out = graph.invoke(inputs(videos_dir, syn, mode="per_video"), context=ctx())
    assert out["mode"] == "per_video" and out["answer"] is None
    assert any("give a chat model" in w for w in out["warnings"])
    with pytest.raises(ConfigError, match="joint mode takes at most 4 videos"):
        graph.invoke(
            inputs(videos_dir, q, mode="joint", videos=[str(videos_dir / "bigbuckbunny.mp4")] * 5),
            context=ctx(),
        )


class TooBigTogether(FakeBackend):
    def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if len(request.videos) > 1:
            raise ContextLengthError("the prompt needs 40000 tokens, the model takes 32768")
        return super().stream(request)


def test_joint_failure_falls_back_to_per_video(videos_dir: Path) -> None:
    q = question("syn-common-chat")
    backend = TooBigTogether(script)
    out = graph.invoke(inputs(videos_dir, q), context=ctx(backend))
    assert out["mode"] == "per_video" and "joint trace failed" in out["warnings"][0]
    assert "40000 tokens" in out["warnings"][0]
    assert [len(r.videos) for r in backend.requests] == [1, 1]  # the joint request never streamed
    assert len(out["per_video"]) == 2 and out["per_video"][0]["sub_question"].startswith("Describe")


class Counting:
    """A backend that keeps no requests: counts streams in flight and the frames alive meanwhile."""

    name = "fake"
    model = "scripted-counting"
    scripted = True

    def __init__(self, *, collect: bool = False) -> None:
        self.collect = collect
        self.in_flight = 0
        self.most_in_flight = 0
        self.frames: list[weakref.ref[Any]] = []
        self.most_frames = 0
        self.calls = 0

    async def _run(self, text: str) -> AsyncIterator[Delta]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            yield Delta(text, "stop")
        finally:
            self.in_flight -= 1

    def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        import gc

        self.calls += 1
        self.frames.append(weakref.ref(request.videos[0].frames))
        if self.collect:
            gc.collect()
        self.most_frames = max(self.most_frames, sum(r() is not None for r in self.frames))
        stem = Path(request.videos[0].record.path).stem.split("-")[0]
        return self._run(answer_alone(stem, question_from_messages(request.messages)))

    async def close(self) -> None:
        return None


def links(videos_dir: Path, tmp_path: Path, n: int) -> list[str]:
    """``n`` paths over two real clips (symlinks: distinct paths, the same files)."""
    paths = []
    for i in range(n):
        clip = "bigbuckbunny.mp4" if i % 2 else "cityCC0.mpg"
        link = tmp_path / f"{Path(clip).stem}-{i}{Path(clip).suffix}"
        link.symlink_to(videos_dir / clip)
        paths.append(str(link))
    return paths


def run_counting(paths: list[str], backend: Counting, concurrency: int) -> tuple[dict[str, Any], list[Any]]:
    done: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    for mode, chunk in graph.stream(
        {"videos": paths, "question": "In how many videos is a rabbit shown?"},
        context=ctx(backend, concurrency=concurrency),
        stream_mode=["custom", "values"],
    ):
        if mode == "custom" and chunk["type"] == "video_done":
            done.append(chunk)
        elif mode == "values":
            final = chunk
    return final, done


def test_fifty_videos_bounded_with_cached_preparations(videos_dir: Path, tmp_path: Path) -> None:
    from vt_agent import video
    from vt_agent.video.cache import DEFAULT_LIMIT_BYTES

    video.clear_cache()
    video.set_cache_limit(DEFAULT_LIMIT_BYTES)  # whatever an earlier test left
    backend = Counting()
    final, done = run_counting(links(videos_dir, tmp_path, 50), backend, concurrency=4)
    assert final["answer"] == "25" and len(final["per_video"]) == 50 and final["partial"] is False
    assert len(done) == 50 and {d["total"] for d in done} == {50}  # progress per video
    assert backend.calls == 50 and backend.most_in_flight <= 4
    alive = [r() for r in backend.frames]
    assert len({id(f) for f in alive if f is not None}) == 2  # two files sampled once, then reused


def test_frames_held_only_for_videos_in_flight(videos_dir: Path, tmp_path: Path) -> None:
    from vt_agent import video

    video.clear_cache()
    video.set_cache_limit(0)  # nothing kept between calls
    try:
        backend = Counting(collect=True)
        final, _ = run_counting(links(videos_dir, tmp_path, 6), backend, concurrency=2)
    finally:
        video.set_cache_limit(512 * 1024 * 1024)
    assert final["answer"] == "3"
    assert backend.most_in_flight <= 2 and backend.most_frames <= 2


def test_topology() -> None:
    g = build_graph().compile().get_graph()
    edges = sorted((e.source, e.target) for e in g.edges)
    assert edges == [
        ("__start__", "plan"),
        ("ask_video", "synthesize"),
        ("joint", "ask_video"),
        ("joint", "synthesize"),
        ("plan", "ask_video"),
        ("plan", "joint"),
        ("synthesize", "__end__"),
    ]


TINY_SET = [
    "sel-night-open", "count-night-open", "cmp-more-people", "cmp-crowded-chat", "ord-upright-earliest",
    "syn-common-chat", "per-day-night",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_reasoner() -> Any:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from vt_agent.backends.transformers_backend import TransformersBackend
    from vt_agent.tiny import build_tiny_checkpoint

    backend = TransformersBackend(build_tiny_checkpoint(), device="cpu")
    yield VideoReasoner(backend, max_tokens=12)
    asyncio.run(backend.close())


@pytest.mark.slow
def test_question_set_on_the_tiny_model(tiny_reasoner: Any, videos_dir: Path) -> None:
    """Plumbing on a real engine (random weights: the answers are noise, the shapes are not).

    One question of each kind (the two-video ones where there is a choice: a call takes seconds on
    a CPU); the scripted-backend test above runs the whole set for the logic."""
    for q in map(question, TINY_SET):
        chat_model = chat(q["chat_reply"]) if "chat_reply" in q else None
        out = graph.invoke(
            inputs(videos_dir, q), context=GraphContext(reasoner=tiny_reasoner, chat_model=chat_model)
        )
        n = len(q["videos"])
        assert out["kind"] == q["kind"] and out["errors"] == [], q["id"]
        assert [e["index"] for e in out["per_video"]] == list(range(n)), q["id"]
        letters = {chr(65 + i) for i in range(len(q["options"]))}
        if q["options"]:
            assert out["answer"] is None or out["answer"] in letters, q["id"]
        for entry in out["per_video"]:
            assert entry["used"], q["id"]
            if out["plan"]["sub"]["form"] not in ("duration",):
                assert entry["sub_question"] == out["plan"]["sub"]["question"]
                assert entry["result"]["backend"] == "transformers" and entry["result"]["scripted"] is False
        assert all(0 <= c["video"] < n for c in out["citations"])
        if out["partial"]:
            assert any(w.startswith("partial answer:") for w in out["warnings"]), q["id"]
    # the durations need no model: they are right even with random weights
    assert (
        graph.invoke(
            inputs(videos_dir, question("cmp-shortest")), context=GraphContext(reasoner=tiny_reasoner)
        )["answer"]
        == "C"
    )
