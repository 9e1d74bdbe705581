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
