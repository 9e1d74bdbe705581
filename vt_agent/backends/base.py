"""The Backend protocol: prepared request in, streamed text deltas out.

Cancellation: closing the async iterator (``aclose()``) or cancelling the task that consumes it
must stop generation in the engine. ``close()`` releases the engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from vt_agent.video.prepared import PreparedVideo

__all__ = ["Backend", "Delta", "GenerationRequest", "PreparedVideo"]


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: chat messages plus the videos they reference.

    ``messages`` use the Qwen chat layout; a video entry is ``{"type": "video", "video": i}``
    where ``i`` indexes ``videos``.

    Continuation: a non-empty ``assistant_prefix`` is the start of the assistant's reply (the trace
    so far); the backend continues it and streams only what follows. ``prefix_token_ids`` are that
    prefix's token ids where the caller has them (from earlier deltas' ``token_ids``): engines that
    take token ids continue from exactly those, so greedy step-by-step generation gives the
    one-shot trace; others re-tokenize the text.
    """

    messages: list[dict[str, Any]]
    videos: Sequence[PreparedVideo]
    max_tokens: int = 1024
    temperature: float = 0.1
    top_p: float = 0.001
    request_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    assistant_prefix: str = ""
    prefix_token_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Delta:
    """A piece of generated text; the last one of a stream carries ``finish_reason``.

    ``token_ids``: the generated tokens this piece decodes from, where the engine reports them
    (in-process vLLM and transformers); empty otherwise.
    """

    text: str
    finish_reason: Literal["stop", "length"] | None = None
    token_ids: tuple[int, ...] = ()


@runtime_checkable
class Backend(Protocol):
    name: str
    model: str
    scripted: bool

    def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]: ...

    async def close(self) -> None: ...
