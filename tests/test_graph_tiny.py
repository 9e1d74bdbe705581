"""The graphs end to end on a real engine: transformers with the tiny random-weight Qwen2.5-VL.

Its output is noise, which is what the repair path is for: the trace is malformed, re-asked,
and the graph still ends with a well-typed output.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("langgraph")
pytest.importorskip("av")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_reasoner() -> Any:
    from vt_agent.backends.transformers_backend import TransformersBackend
    from vt_agent.reasoner import VideoReasoner
    from vt_agent.tiny import build_tiny_checkpoint

    backend = TransformersBackend(build_tiny_checkpoint(), device="cpu")
    reasoner = VideoReasoner(backend, max_tokens=24)
    yield reasoner
    asyncio.run(backend.close())


def test_video_thinker_on_tiny_model(tiny_reasoner: Any, bbb: Path) -> None:
    from graphs import GraphContext
    from graphs.video_thinker import graph

    context = GraphContext(reasoner=tiny_reasoner, max_repairs=1)
    tokens: list[str] = []
    final: dict[str, Any] = {}
    for mode, chunk in graph.stream(
        {"videos": [str(bbb)], "question": "What animal is this?", "options": ["A fox", "A rabbit"]},
        context=context,
        stream_mode=["custom", "values"],
    ):
        if mode == "custom" and chunk["type"] == "token":
            tokens.append(chunk["text"])
        elif mode == "values":
            final = chunk
    result = final["result"]
    assert result["backend"] == "transformers" and result["scripted"] is False
    assert result["videos"][0]["grid_thw"][0] == 8  # 16 frames, temporal patch 2
    # random weights: the trace breaks the format, so it was asked twice
    assert final["attempts"] == 2 and final["format_ok"] is False
    assert "".join(tokens).endswith(result["trace"])
    assert isinstance(final["segments"], list) and len(final["confirmed"]) == len(final["segments"])


def test_stepwise_continuation_gives_the_one_shot_tokens(tiny_reasoner: Any, bbb: Path) -> None:
    """Greedy, torch threads pinned: the one-shot answer's tokens, then a thread forked after its
    first half (trace and token ids in state, as a step leaves them) continued by ``reason``."""
    import torch
    from langgraph.checkpoint.memory import InMemorySaver
    from transformers import AutoTokenizer

    from graphs import GraphContext
    from graphs.video_thinker import build_graph

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_reasoner.backend.model))
    g = build_graph().compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "tiny"}}
    inputs = {"videos": [str(bbb)], "question": "What animal is this?", "options": ["A fox", "A rabbit"]}
    g.invoke(inputs, config, context=GraphContext(reasoner=tiny_reasoner, max_repairs=0, stepwise=False))
    done = g.get_state(config).values
    ids = done["trace_token_ids"]
    assert ids and tokenizer.decode(ids) == done["trace"]  # the engine's own ids spell the trace
    half = len(ids) // 2
    before_reason = next(h for h in g.get_state_history(config) if h.next == ("reason",))
    fork = g.update_state(
        before_reason.config,
        {"trace": tokenizer.decode(ids[:half]), "trace_token_ids": ids[:half], "paused": True, "attempts": 1},
        as_node="review",
    )
    g.invoke(None, fork, context=GraphContext(reasoner=tiny_reasoner, max_repairs=0))
    continued = g.get_state(config).values["trace_token_ids"]
    diverged = next((i for i, (a, b) in enumerate(zip(ids, continued, strict=False)) if a != b), None)
    assert diverged is None and len(continued) == len(ids), (
        f"first divergence at token {diverged} of {len(ids)} (split at {half}): "
        f"{ids[diverged or 0 :][:4]} vs {continued[diverged or 0 :][:4]} (random weights have near-ties)"
    )
