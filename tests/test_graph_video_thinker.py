"""graphs.video_thinker with the scripted fake backend on the bundled clips (real decoding)."""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("av")

from graphs import GraphContext
from graphs.video_thinker import REPAIR_NOTE, build_graph, graph, route_after_reason
from vt_agent.backends.base import GenerationRequest
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.backends.fake_traces import question_from_messages
from vt_agent.errors import ConfigError

BBB_Q = "What animal is the main character of this clip?"
BBB_OPTIONS = ["A fox", "A rabbit", "A bear", "A squirrel"]


def reasoner(backend: Any) -> Any:
    from vt_agent.reasoner import VideoReasoner

    return VideoReasoner(backend)


def ctx(backend: Any, **kw: Any) -> GraphContext:
    return GraphContext(reasoner=reasoner(backend), **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def fresh(backend: FakeBackend) -> list[GenerationRequest]:
    """The requests that started an answer (stepwise, the others continue a trace)."""
    return [r for r in backend.requests if not r.assistant_prefix]


async def _collect(
    compiled: Any, inputs: dict[str, Any], context: GraphContext, **kw: Any
) -> tuple[list[Any], Any]:
    chunks: list[Any] = []
    async for mode, chunk in compiled.astream(
        inputs, context=context, stream_mode=["custom", "updates", "values"], **kw
    ):
        chunks.append((mode, chunk))
    values = [c for m, c in chunks if m == "values"]
    return chunks, values[-1]


def test_topology_snapshot() -> None:
    g = build_graph().compile().get_graph()
    edges = sorted((e.source, e.target, e.conditional) for e in g.edges)
    assert edges == [
        ("__start__", "prepare", False),
        ("finish", "__end__", False),
        ("prepare", "reason", False),
        ("reason", "finish", True),
        ("reason", "reason", True),
        ("reason", "repair", True),
        ("reason", "review", True),
        ("reason", "verify", True),
        ("repair", "reason", False),
        ("review", "reason", False),
        ("verify", "finish", False),
    ]
    assert set(g.nodes) == {
        "__start__",
        "__end__",
        "prepare",
        "reason",
        "review",
        "repair",
        "verify",
        "finish",
    }


def test_schemas_are_narrow() -> None:
    compiled = build_graph().compile()
    inp = compiled.get_input_jsonschema()["properties"]
    out = compiled.get_output_jsonschema()["properties"]
    assert set(inp) == {
        "videos",
        "question",
        "options",
        "window",
        "preset",
        "verify",
        "stepwise",
        "interrupt_steps",
    }
    assert set(out) == {"result", "answer", "segments", "confirmed", "attempts", "format_ok"}


def test_stream_events_in_order(bbb: Path) -> None:
    backend = FakeBackend(chunk_chars=16)
    chunks, final = run(
        _collect(graph, {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS}, ctx(backend))
    )
    custom = [c for m, c in chunks if m == "custom"]
    types = [c["type"] for c in custom]
    assert types[0] == "progress"
    assert "token" in types and "segment" in types
    first_token = types.index("token")
    first_segment = types.index("segment")
    answer_at = types.index("answer")
    assert first_token < first_segment < answer_at
    # the tokens are the whole trace, in order
    tokens = "".join(c["text"] for c in custom if c["type"] == "token")
    assert tokens == final["result"]["trace"]
    segments = [c for c in custom if c["type"] == "segment"]
    assert [s["index"] for s in segments] == list(range(len(segments)))
    assert [(s["start_s"], s["end_s"]) for s in segments] == [
        (s["start_s"], s["end_s"]) for s in final["result"]["segments"]
    ]
    assert segments[0]["start_s"] == 0.0 and segments[0]["end_s"] == 2.0
    assert [c["letter"] for c in custom if c["type"] == "answer"] == ["B"]
    # node updates arrive in graph order
    nodes = [next(iter(c)) for m, c in chunks if m == "updates"]
    assert nodes == ["prepare"] + ["reason"] * (len(segments) + 1) + ["finish"]  # a step per superstep
    assert final["answer"] == "B"
    assert final["attempts"] == 1
    assert final["format_ok"] is True
    assert len(final["steps"]) == len(final["segments"]) == len(segments)
    assert final["confirmed"] == [None] * len(segments)
    assert final["result"]["scripted"] is True
    assert final["sampling"][0]["path"] == str(bbb.resolve())
    assert len(final["sampling"][0]["timestamps_s"]) == len(final["sampling"][0]["indices"]) > 0


@pytest.mark.parametrize("interval", [0.0, 10.0])
def test_token_events_coalesce_without_losing_order(bbb: Path, interval: float) -> None:
    backend = FakeBackend(chunk_chars=4)
    inputs = {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS}
    chunks, final = run(_collect(graph, inputs, ctx(backend, token_interval_s=interval)))
    custom = [c for m, c in chunks if m == "custom"]
    tokens = [c for c in custom if c["type"] == "token"]
    trace = final["result"]["trace"]
    assert "".join(t["text"] for t in tokens) == trace
    if interval == 0.0:
        assert len(tokens) == backend.chunks_sent  # one event per delta
    else:  # the first delta at once, then text held until the next other event
        assert len(tokens) < len(final["segments"]) + 4
    # every segment event comes after the token text that closes it
    seen = ""
    for c in custom:
        if c["type"] == "token":
            seen += c["text"]
        elif c["type"] == "segment":
            assert seen.count("</think>") >= c["index"] + 1 or seen.count("</caption>") >= c["index"] + 1


def test_output_is_narrow_and_json(bbb: Path) -> None:
    out = graph.invoke(
        {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS}, context=ctx(FakeBackend())
    )
    assert set(out) == {"result", "answer", "segments", "confirmed", "attempts", "format_ok"}
    json.dumps(out)
    assert out["result"]["answer"] == out["answer"] == "B"


@pytest.mark.parametrize("window", [(20.0, 40.0), (0.0, 20.0), (60.0, 79.5)])
def test_window_spans_are_global(vtest: Path, window: tuple[float, float]) -> None:
    out = graph.invoke(
        {
            "videos": [str(vtest)],
            "question": "What is going on here?",
            "options": ["x", "y"],
            "window": window,
        },
        context=ctx(FakeBackend()),
    )
    segs = out["segments"]
    assert segs, out
    # the generic script cites [0, d/3], [d/3, 2d/3], [2d/3, d] of what it saw, floored to whole seconds
    d = window[1] - window[0]
    expected = [
        (0.0, float(int(d / 3))),
        (float(int(d / 3)), float(int(2 * d / 3))),
        (float(int(2 * d / 3)), float(int(d))),
    ]
    assert [(s["start_s"], s["end_s"]) for s in segs] == [(window[0] + a, window[0] + b) for a, b in expected]


def test_repair_reasks_malformed_trace(bbb: Path) -> None:
    backend = FakeBackend(["no-tags", "bbb-animal"])
    chunks, final = run(
        _collect(
            graph,
            {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS},
            ctx(backend, max_repairs=2),
        )
    )
    assert final["attempts"] == 2
    assert final["format_ok"] is True
    assert final["answer"] == "B"
    nodes = [next(iter(c)) for m, c in chunks if m == "updates"]
    assert nodes == ["prepare", "reason", "repair"] + ["reason"] * (len(final["segments"]) + 1) + ["finish"]
    # the second attempt carries the format reminder, the first is the plain question
    q0 = question_from_messages(fresh(backend)[0].messages)
    q1 = question_from_messages(fresh(backend)[1].messages)
    assert REPAIR_NOTE not in q0 and REPAIR_NOTE in q1
    assert final["result"]["question"] == BBB_Q
    assert {s["attempt"] for s in final["steps"]} == {2}  # no-tags has no segments
    assert any(c["type"] == "progress" and "asking again" in c["message"] for m, c in chunks if m == "custom")


def test_repair_gives_up_after_max(bbb: Path) -> None:
    backend = FakeBackend(["unclosed"])
    out = graph.invoke(
        {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS}, context=ctx(backend, max_repairs=1)
    )
    assert out["attempts"] == 2
    assert out["format_ok"] is False
    assert len(fresh(backend)) == 2


def test_steps_accumulate_over_attempts(bbb: Path) -> None:
    backend = FakeBackend(["nested", "bbb-animal"])
    out = (
        build_graph()
        .compile()
        .invoke(
            {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS},
            context=ctx(backend),
            output_keys=["steps", "attempts"],
        )
    )
    attempts = [s["attempt"] for s in out["steps"]]
    assert out["attempts"] == 2
    assert attempts == sorted(attempts) and set(attempts) == {1, 2}


def test_router_is_pure() -> None:
    base: dict[str, Any] = {
        "problems": [],
        "attempts": 1,
        "max_repairs": 1,
        "verify": False,
        "segments": [{}],
    }
    assert route_after_reason(base) == "finish"  # type: ignore[arg-type]
    assert route_after_reason({**base, "problems": ["x"]}) == "repair"  # type: ignore[arg-type]
    assert route_after_reason({**base, "problems": ["x"], "attempts": 2}) == "finish"  # type: ignore[arg-type]
    assert route_after_reason({**base, "verify": True}) == "verify"  # type: ignore[arg-type]
    assert route_after_reason({**base, "verify": True, "segments": []}) == "finish"  # type: ignore[arg-type]


def _verify_script(request: GenerationRequest) -> str:
    """Main question: the bbb-animal script. Verification: Yes for spans starting at 0 s, else No."""
    question = question_from_messages(request.messages)
    if not question.startswith("Does this part of the video show"):
        return "bbb-animal"
    window = request.videos[0].record.window
    assert window is not None
    letter = "A" if window[0] == 0.0 else "B"
    return (
        f"<time>00:00-00:01</time><caption>Checking the span.</caption><think>Looked closely.</think>"
        f"<answer>{letter}</answer>"
    )


def test_verify_confirms_spans(bbb: Path) -> None:
    backend = FakeBackend(_verify_script)
    chunks, final = run(
        _collect(
            graph,
            {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS, "verify": True},
            ctx(backend),
        )
    )
    segs = final["segments"]
    assert len(segs) >= 2
    expected = [s["start_s"] == 0.0 for s in segs]
    assert final["confirmed"] == expected
    assert [s["confirmed"] for s in segs] == expected
    checks = [c for m, c in chunks if m == "custom" and c["type"] == "verify"]
    assert sorted(c["index"] for c in checks) == [s["index"] for s in segs]
    # each check sampled densely inside (at least verify_min_span_s around) its span
    checked = [r for r in backend.requests if r.videos[0].record.window is not None]
    assert len(checked) == len(segs) == len(fresh(backend)) - 1  # one-shot checks
    windows = [r.videos[0].record.window for r in checked]
    assert all(w is not None and w[1] - w[0] >= 2.0 - 1e-6 for w in windows)
    verify_qs = [question_from_messages(r.messages) for r in checked]
    assert all(q.startswith("Does this part of the video show: ") and "A. Yes" in q for q in verify_qs)


def test_checkpoint_interrupt_and_resume(bbb: Path) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    saver = InMemorySaver()
    backend = FakeBackend(_verify_script)
    context = ctx(backend)
    config: Any = {"configurable": {"thread_id": "t1"}}
    first = build_graph().compile(checkpointer=saver, interrupt_before=["verify"])
    run(
        first.ainvoke(
            {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS, "verify": True},
            config,
            context=context,
        )
    )
    # a new compiled graph over the same saver finds the paused thread
    second = build_graph().compile(checkpointer=saver, interrupt_before=["verify"])
    snap = second.get_state(config)
    assert snap.next == ("verify",)
    values = snap.values
    assert values["answer"] == "B" and values["confirmed"] == [None] * len(values["segments"])
    size = len(pickle.dumps(values))
    assert size < 64_000, size  # paths, indices, timestamps and text: no frames
    assert "jpeg_base64" not in json.dumps(values)
    assert len(fresh(backend)) == 1
    # edit the state (skip verifying the last segment by dropping its caption), then resume
    segs = [dict(s) for s in values["segments"]]
    segs[-1]["caption"] = None
    second.update_state(config, {"segments": segs})
    out = run(second.ainvoke(None, config, context=context))
    assert out["confirmed"][-1] is None
    assert out["confirmed"][0] is True
    assert len(fresh(backend)) == 1 + len(segs) - 1


def test_no_context_is_a_clear_error(bbb: Path) -> None:
    with pytest.raises(ConfigError, match="context=GraphContext"):
        graph.invoke({"videos": [str(bbb)], "question": BBB_Q})
    with pytest.raises(ConfigError, match="no model"):
        graph.invoke({"videos": [str(bbb)], "question": BBB_Q}, context=GraphContext())


def test_bad_inputs(bbb: Path, tmp_path: Path) -> None:
    from vt_agent.errors import VideoError

    c = ctx(FakeBackend())
    with pytest.raises(ConfigError, match="videos"):
        graph.invoke({"videos": [], "question": BBB_Q}, context=c)
    with pytest.raises(ConfigError, match="question"):
        graph.invoke({"videos": [str(bbb)], "question": "  "}, context=c)
    with pytest.raises(ConfigError, match="window"):
        graph.invoke({"videos": [str(bbb)], "question": BBB_Q, "window": (3.0, 1.0)}, context=c)
    with pytest.raises(VideoError):
        graph.invoke({"videos": [str(tmp_path / "missing.mp4")], "question": BBB_Q}, context=c)
    with pytest.raises(ConfigError, match="max_repairs"):
        GraphContext(max_repairs=-1)


def test_context_builds_backend_by_name(bbb: Path) -> None:
    context = GraphContext(backend="fake")
    out = graph.invoke({"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS}, context=context)
    assert out["answer"] == "B"
    assert context.get_reasoner() is context.get_reasoner()
    from vt_agent.config import BackendConfig

    out = graph.invoke(
        {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS},
        context=GraphContext(backend=BackendConfig(backend="fake")),
    )
    assert out["answer"] == "B" and out["result"]["scripted"] is True


def test_json_context_as_a_server_sends_it(bbb: Path) -> None:
    out = graph.invoke(
        {"videos": [str(bbb)], "question": BBB_Q, "options": BBB_OPTIONS},
        context={"backend": "fake", "max_repairs": 0},
    )
    assert out["answer"] == "B" and out["result"]["backend"] == "fake"
