"""graphs.multi_video: Send fan-out over real clips, synthesis, majority fallback, a broken video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("av")

from graphs import GraphContext
from graphs.multi_video import build_graph, graph, majority_vote
from vt_agent.backends.base import GenerationRequest
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.backends.fake_traces import question_from_messages

QUESTION = "Which clip shows a scene filmed at night?"
OPTIONS = ["The first clip", "The second clip", "Neither"]


def ctx(backend: Any, **kw: Any) -> GraphContext:
    from vt_agent.reasoner import VideoReasoner

    return GraphContext(reasoner=VideoReasoner(backend), **kw)


def per_video_trace(stem: str) -> str:
    letter = "B" if stem == "cityCC0" else "C"
    return (
        f"<time>00:01-00:03</time><caption>Scripted look at {stem}.</caption><think>Noted.</think>\n"
        f"<answer>{letter}</answer>"
    )


def script(synthesis: str) -> Any:
    def choose(request: GenerationRequest) -> str:
        question = question_from_messages(request.messages)
        if question.startswith("Findings from a first look"):
            return synthesis
        return per_video_trace(Path(request.videos[0].record.path).stem)

    return choose


GOOD_SYNTHESIS = (
    "<time>00:02-00:04</time><caption>Lit towers against a dark sky.</caption><think>Night.</think>\n"
    "<answer>B</answer>"
)


def broken_video(tmp_path: Path) -> Path:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a video" * 50)
    return bad


def test_fan_out_synthesis_and_broken_video(bbb: Path, city: Path, tmp_path: Path) -> None:
    bad = broken_video(tmp_path)
    backend = FakeBackend(script(GOOD_SYNTHESIS))
    events: list[Any] = []
    final: dict[str, Any] = {}
    for mode, chunk in graph.stream(
        {"videos": [str(bbb), str(bad), str(city)], "question": QUESTION, "options": OPTIONS},
        context=ctx(backend),
        stream_mode=["custom", "values"],
    ):
        if mode == "custom":
            events.append(chunk)
        else:
            final = chunk
    assert final["answer"] == "B"
    assert final["synthesis"] == "model"
    assert [e["index"] for e in final["errors"]] == [1]
    assert final["errors"][0]["path"] == str(bad)
    assert final["errors"][0]["message"]
    assert sorted(e["index"] for e in final["per_video"]) == [0, 2]
    by_index = {e["index"]: e for e in final["per_video"]}
    assert by_index[2]["answer"] == "B" and by_index[0]["answer"] == "C"
    assert all(s["video"] == 2 for s in by_index[2]["segments"])
    # citations: the spans of the videos that agree with the final answer
    assert [(c["video"], c["path"], c["start_s"], c["end_s"]) for c in final["citations"]] == [
        (2, str(city), 1.0, 3.0)
    ]
    # the synthesis saw both working videos, in the multi-video layout, with the findings as text
    synth = backend.requests[-1]
    assert [Path(v.record.path).name for v in synth.videos] == ["bigbuckbunny.mp4", "cityCC0.mpg"]
    text = question_from_messages(synth.messages)
    assert "bigbuckbunny.mp4): answered C." in text and "cityCC0.mpg): answered B." in text
    assert "00:01-00:03: Scripted look at cityCC0." in text
    labels = [c["text"] for c in synth.messages[-1]["content"] if c.get("type") == "text"][:2]
    assert labels == ["Video 1: ", "Video 2: "]
    assert final["synthesis_result"]["answer"] == "B"
    types = {e["type"] for e in events}
    assert {"segment", "video_error", "video_done", "answer"} <= types
    assert "token" in types  # the synthesis streams its tokens; per-video calls do not


def test_malformed_synthesis_falls_back_to_majority(bbb: Path, city: Path) -> None:
    backend = FakeBackend(script("I cannot decide."))
    out = graph.invoke(
        {"videos": [str(city), str(bbb), str(city)], "question": QUESTION, "options": OPTIONS},
        context=ctx(backend, concurrency=3),
    )
    assert out["synthesis"] == "majority"
    assert out["answer"] == "B"  # city twice (B) against bbb once (C)
    assert out["warnings"] and "malformed" in out["warnings"][0]
    assert [c["video"] for c in out["citations"]] == [0, 2]


def test_majority_only(bbb: Path, city: Path) -> None:
    backend = FakeBackend(script(GOOD_SYNTHESIS))
    out = graph.invoke(
        {
            "videos": [str(bbb), str(city)],
            "question": QUESTION,
            "options": OPTIONS,
            "synthesize_with_model": False,
        },
        context=ctx(backend),
    )
    assert out["synthesis"] == "majority"
    assert len(backend.requests) == 2
    assert out["answer"] == "B"  # tie C/B: the earlier letter wins
    assert out["synthesis_result"] is None


def test_all_videos_broken(tmp_path: Path) -> None:
    bad = broken_video(tmp_path)
    out = graph.invoke(
        {"videos": [str(bad), str(tmp_path / "missing.mp4")], "question": QUESTION, "options": OPTIONS},
        context=ctx(FakeBackend(script(GOOD_SYNTHESIS))),
    )
    assert out["answer"] is None and out["synthesis"] == "none"
    assert sorted(e["index"] for e in out["errors"]) == [0, 1]
    assert out["per_video"] == []


def test_majority_vote_rules() -> None:
    def e(i: int, a: str | None) -> dict[str, Any]:
        return {"index": i, "answer": a}

    assert majority_vote([e(0, "C"), e(1, "B"), e(2, "C")], ["x"]) == "C"
    assert majority_vote([e(0, "C"), e(1, "B")], ["x"]) == "B"
    assert majority_vote([e(0, "yes"), e(1, "no")], []) == "yes"  # open question: the earlier video
    assert majority_vote([e(0, None)], ["x"]) is None


def test_topology() -> None:
    g = build_graph().compile().get_graph()
    edges = sorted((e.source, e.target) for e in g.edges)
    assert edges == [
        ("__start__", "check"),
        ("check", "reason_one"),
        ("reason_one", "synthesize"),
        ("synthesize", "__end__"),
    ]
