"""video_thinker step by step: one grounded step per superstep (scripted fake backend, real decoding)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("av")

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from graphs import GraphContext
from graphs.context import CONTEXT_FIELDS, ContextCache
from graphs.steps import edit_update
from graphs.video_thinker import build_graph, graph
from vt_agent.backends.base import Delta, GenerationRequest
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import BackendError, ConfigError
from vt_agent.reasoner import VideoReasoner

Q = "What animal is the main character of this clip?"
OPTIONS = ["A fox", "A rabbit", "A bear", "A squirrel"]


def inputs(video: Path, **kw: Any) -> dict[str, Any]:
    return {"videos": [str(video)], "question": Q, "options": OPTIONS, **kw}


def ctx(backend: Any, **kw: Any) -> GraphContext:
    return GraphContext(reasoner=VideoReasoner(backend), **kw)


def thread(name: str) -> Any:
    return {"configurable": {"thread_id": name}}


class TokenFake(FakeBackend):
    """The scripted backend with token ids (one per character), like an in-process engine."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        inner = super().stream(request)

        async def gen() -> AsyncIterator[Delta]:
            async for d in inner:
                yield Delta(d.text, d.finish_reason, tuple(ord(c) for c in d.text))

        return gen()


class Crashing(FakeBackend):
    """Fails on its ``at``-th request (1-based), like an engine that dies mid-answer."""

    def __init__(self, at: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.at = at

    def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if len(self.requests) + 1 == self.at:
            self.requests.append(request)
            raise BackendError("the engine died")
        return super().stream(request)


def test_values_and_updates_show_the_steps_one_at_a_time(bbb: Path) -> None:
    async def go() -> list[tuple[str, Any]]:
        return [
            c
            async for c in graph.astream(
                inputs(bbb), context=ctx(FakeBackend(chunk_chars=5)), stream_mode=["values", "updates"]
            )
        ]

    chunks = asyncio.run(go())
    counts = [len(v.get("segments", [])) for m, v in chunks if m == "values"]
    final = [v for m, v in chunks if m == "values"][-1]
    n = len(final["segments"])
    assert n >= 2
    grown = [c for i, c in enumerate(counts) if i == 0 or c != counts[i - 1]]
    assert grown == list(range(n + 1))  # 0, 1, 2, ...: never two steps at once
    reasons = [u["reason"] for m, u in chunks if m == "updates" and "reason" in u]
    assert [len(r["steps"]) for r in reasons] == [1] * n + [0]  # the answer step closes no segment
    assert [len(r["segments"]) for r in reasons] == [*range(1, n + 1), n]
    assert [r["paused"] for r in reasons] == [True] * n + [False]
    assert reasons[-1]["answer"] == "B"


@pytest.mark.parametrize("script", ["bbb-animal", "bbb-middle", "bbb-order", "no-tags", "unclosed"])
@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_stepwise_equals_one_shot(bbb: Path, script: str, chunk: int) -> None:
    outs = [
        graph.invoke(inputs(bbb), context=ctx(FakeBackend(script, chunk_chars=chunk), stepwise=stepwise))
        for stepwise in (True, False)
    ]
    step, one = outs
    assert step["result"]["trace"] == one["result"]["trace"]
    drop = {"timings"}
    assert {k: v for k, v in step["result"].items() if k not in drop} == {
        k: v for k, v in one["result"].items() if k not in drop
    }
    assert step["segments"] == one["segments"] and step["answer"] == one["answer"]
    assert step["attempts"] == one["attempts"] and step["format_ok"] == one["format_ok"]


def test_checkpoint_after_each_step(bbb: Path) -> None:
    saver = InMemorySaver()
    g = build_graph().compile(checkpointer=saver)
    g.invoke(inputs(bbb), thread("a"), context=ctx(FakeBackend()))
    history = list(g.get_state_history(thread("a")))[::-1]
    paused = [len(h.values["segments"]) for h in history if h.values.get("paused")]
    assert paused == [1, 2]  # a checkpoint after each step, before the next one is generated
    assert [h.next for h in history if h.values.get("paused")] == [("reason",), ("reason",)]


def test_crash_after_step_k_resumes_there(bbb: Path) -> None:
    saver = InMemorySaver()
    g = build_graph().compile(checkpointer=saver)
    crashing = Crashing(at=3)  # steps 1 and 2 made, the answer step fails
    with pytest.raises(BackendError, match="died"):
        g.invoke(inputs(bbb), thread("c"), context=ctx(crashing))
    snap = g.get_state(thread("c"))
    assert snap.next == ("reason",) and len(snap.values["segments"]) == 2
    backend = FakeBackend()
    out = g.invoke(None, thread("c"), context=ctx(backend))
    # one request, continuing the saved trace: steps 1..2 were not generated again
    assert len(backend.requests) == 1
    assert backend.requests[0].assistant_prefix == snap.values["trace"]
    assert backend.requests[0].assistant_prefix.count("</think>") == 2
    reference = graph.invoke(inputs(bbb), context=ctx(FakeBackend(), stepwise=False))
    assert out["result"]["trace"] == reference["result"]["trace"] and out["answer"] == "B"


def test_interrupt_edit_and_drop(bbb: Path) -> None:
    saver = InMemorySaver()
    g = build_graph().compile(checkpointer=saver)
    backend = FakeBackend("bbb-middle")
    context = ctx(backend, interrupt_steps=True)
    out = g.invoke(inputs(bbb), thread("i"), context=context)
    (pause,) = out["__interrupt__"]
    assert pause.value["type"] == "step" and pause.value["index"] == 0
    assert pause.value["step"]["caption"] and pause.value["trace"].count("</think>") == 1
    # edit the first step's caption and span: the model continues from the re-rendered trace
    out = g.invoke(
        Command(resume={"caption": "A grey rabbit wakes up.", "start_s": 1.0, "end_s": 3.0}),
        thread("i"),
        context=context,
    )
    edited = backend.requests[-1].assistant_prefix
    assert "<time>00:01-00:03</time><caption>A grey rabbit wakes up.</caption>" in edited
    assert backend.requests[-1].prefix_token_ids is None
    (pause,) = out["__interrupt__"]
    assert pause.value["index"] == 1 and pause.value["segments"][0]["caption"] == "A grey rabbit wakes up."
    # drop the second step: the next request's trace holds the first step only
    dropped = pause.value["step"]["caption"]
    out = g.invoke(Command(resume={"action": "drop"}), thread("i"), context=context)
    assert dropped not in backend.requests[-1].assistant_prefix
    assert backend.requests[-1].assistant_prefix.count("</think>") == 1
    while "__interrupt__" in out:
        out = g.invoke(Command(resume="keep"), thread("i"), context=context)
    assert out["segments"][0]["caption"] == "A grey rabbit wakes up."
    assert (out["segments"][0]["start_s"], out["segments"][0]["end_s"]) == (1.0, 3.0)
    assert out["answer"] == "B"
    assert [e.get("action", "edit") for e in g.get_state(thread("i")).values["edits"]] == ["edit", "drop"]


def test_bad_edit_asks_again_naming_the_fields(bbb: Path) -> None:
    g = build_graph().compile(checkpointer=InMemorySaver())
    backend = FakeBackend()
    context = ctx(backend, interrupt_steps=True)
    g.invoke(inputs(bbb), thread("b"), context=context)
    for bad, message in [
        ({"captoin": "x"}, "caption, think, start_s"),
        ({"start_s": 5.0, "end_s": 999.0}, "inside what the model saw"),
        ({"caption": "x</caption><answer>A"}, "trace tags"),
        ("rewrite", "'keep', 'edit' or 'drop'"),
    ]:
        out = g.invoke(Command(resume=bad), thread("b"), context=context)
        (pause,) = out["__interrupt__"]
        assert message in pause.value["error"] and pause.value["index"] == 0
    assert len(backend.requests) == 1  # nothing generated meanwhile
    out = g.invoke(Command(resume={"caption": "Fine."}), thread("b"), context=context)
    assert out["__interrupt__"][0].value["segments"][0]["caption"] == "Fine."


def test_time_travel_fork_from_an_earlier_step(bbb: Path) -> None:
    g = build_graph().compile(checkpointer=InMemorySaver())
    first = g.invoke(inputs(bbb), thread("t"), context=ctx(FakeBackend()))
    after_one = next(
        h
        for h in g.get_state_history(thread("t"))
        if h.next == ("reason",) and len(h.values.get("segments", [])) == 1
    )
    backend = FakeBackend()
    fork = g.update_state(
        after_one.config,
        edit_update(after_one.values, {"caption": "A rabbit in a burrow."}),
        as_node="review",
    )
    out = g.invoke(None, fork, context=ctx(backend))
    assert len(backend.requests) == 2  # step 2 and the answer; step 1 came from the checkpoint
    assert out["segments"][0]["caption"] == "A rabbit in a burrow."
    assert out["segments"][1:] == first["segments"][1:]
    finals = [h.values.get("segments") for h in g.get_state_history(thread("t")) if not h.next]
    assert first["segments"] in finals and out["segments"] in finals  # the original run is kept


def test_token_ids_carry_across_steps(bbb: Path) -> None:
    backend = TokenFake()
    g = build_graph().compile(checkpointer=InMemorySaver())
    out = g.invoke(inputs(bbb), thread("k"), context=ctx(backend))
    trace = out["result"]["trace"]
    assert g.get_state(thread("k")).values["trace_token_ids"] == [ord(c) for c in trace]
    for req in backend.requests[1:]:
        assert req.prefix_token_ids == tuple(ord(c) for c in req.assistant_prefix)


def test_json_context_cache_schema_and_errors(bbb: Path) -> None:
    cache = ContextCache()
    g = build_graph(cache).compile()
    for _ in range(2):
        out = g.invoke(inputs(bbb), context={"backend": "fake", "stepwise": False})  # type: ignore[arg-type]
        assert out["answer"] == "B"
    assert len(cache) == 1
    built = cache.get({"stepwise": False, "backend": "fake"})
    assert built.get_reasoner() is built.get_reasoner()
    schema = g.get_context_jsonschema()
    assert schema is not None and set(CONTEXT_FIELDS) <= set(schema["properties"])
    assert schema["properties"]["backend"]["enum"] == ["auto", "transformers", "vllm", "openai", "fake"]
    with pytest.raises(ConfigError, match=r'backend, model, base_url.*\{"backend": "fake"\}'):
        g.invoke(inputs(bbb), context={"bakend": "fake"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"without a context.*backend, model"):
        g.invoke(inputs(bbb))
    with pytest.raises(ConfigError, match='no "backend"'):
        g.invoke(inputs(bbb), context={"model": "m"})  # type: ignore[arg-type]


def test_graph_overhead_bench_gives_verdicts() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, str(root / "bench" / "graph_overhead.py"), "--rounds", "2", "--delay-ms", "0"],
        capture_output=True, text=True, timeout=300, cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr  # 1: a target missed (the verdict line says which)
    assert "graph.astream stepwise" in proc.stdout and "stepwise / one-shot: x" in proc.stdout
    verdicts = [line for line in proc.stdout.splitlines() if line.startswith(("[ok]", "[MISSED]"))]
    assert len(verdicts) == 2 and "stepwise / one-shot at 0 ms per chunk" in verdicts[1]
