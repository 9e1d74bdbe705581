"""The ``fake`` backend: streams SCRIPTED traces. For tests and examples only.

Its output is hand-written text from :mod:`vt_agent.backends.fake_traces`, not a model's answer:
``scripted`` is True, ``model`` is ``"scripted-fake"``, and results built from it must say so.
It ignores the video frames (it only reads the question text and the first video's duration
and file name to pick a script).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

from vt_agent.backends.base import Delta, GenerationRequest
from vt_agent.backends.fake_traces import SCRIPTS, FakeTrace, choose_script, get_script
from vt_agent.errors import BackendError, ConfigError

__all__ = ["FakeBackend", "ScriptChoice", "continuation"]

ScriptChoice = str | FakeTrace | Callable[[GenerationRequest], "str | FakeTrace"]
"""A script name, a trace text, a :class:`FakeTrace`, or a function of the request giving one."""

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
STEP_CLOSE = "</think>"


def continuation(text: str, prefix: str) -> str:
    """What a scripted trace says after an assistant ``prefix``.

    The rest of ``text`` when the prefix is its start; for an edited prefix, the script's steps
    after as many closed steps as the prefix holds, so a scripted trace keeps its groups as steps.
    """
    if not prefix:
        return text
    if text.startswith(prefix):
        return text[len(prefix) :]
    pos = 0
    for _ in range(prefix.count(STEP_CLOSE)):
        found = text.find(STEP_CLOSE, pos)
        if found < 0:
            return ""
        pos = found + len(STEP_CLOSE)
    rest = text[pos:]
    trailing = len(prefix) - len(prefix.rstrip())  # whitespace the prefix already ends with
    leading = len(rest) - len(rest.lstrip())
    return rest[min(trailing, leading) :]


def _resolve(choice: str | FakeTrace) -> FakeTrace:
    if isinstance(choice, FakeTrace):
        return choice
    if not isinstance(choice, str):
        raise ConfigError(f"a fake script must be a name, a text or a FakeTrace, got {type(choice).__name__}")
    if choice in SCRIPTS:
        return SCRIPTS[choice]
    if _NAME_RE.match(choice):
        return get_script(choice)  # raises, listing the names
    return FakeTrace(name="text", text=choice, description="Scripted: text given to FakeBackend")


class FakeBackend:
    """Streams a scripted trace in chunks of ``chunk_chars`` characters, ``delay_s`` apart.

    ``script``: None (pick by the question, see :func:`~vt_agent.backends.fake_traces.choose_script`),
    a script name, a trace text, a :class:`FakeTrace`, a list of those (one per question, cycling;
    a continuation keeps its question's),
    or a callable ``request -> str | FakeTrace``. The last delta carries ``finish_reason``:
    ``"length"`` for scripts cut off at max tokens, else ``"stop"``.

    Paced like a GPU engine (for benchmarks): ``request_s`` seconds of "generation" before each
    request's first chunk, at most ``concurrency`` requests at once (None: no limit).

    Given ``request.assistant_prefix`` it streams the rest of the script after that prefix
    (see :func:`continuation`); a callable script still returns the whole trace.
    Closing the stream (``aclose()``) or cancelling its consumer stops it at once.
    ``requests`` records every request received; ``chosen`` the script name used for each.
    """

    name = "fake"
    scripted = True

    def __init__(
        self,
        script: ScriptChoice | Sequence[str | FakeTrace] | None = None,
        *,
        chunk_chars: int = 8,
        delay_s: float = 0.0,
        model: str = "scripted-fake",
        request_s: float = 0.0,
        concurrency: int | None = None,
    ) -> None:
        if not isinstance(chunk_chars, int) or isinstance(chunk_chars, bool) or chunk_chars < 1:
            raise ConfigError(f"chunk_chars must be a positive integer, got {chunk_chars!r}")
        if not isinstance(delay_s, int | float) or delay_s < 0:
            raise ConfigError(f"delay_s must be a number of seconds >= 0, got {delay_s!r}")
        self.model = model
        self.chunk_chars = chunk_chars
        self.delay_s = float(delay_s)
        if not isinstance(request_s, int | float) or request_s < 0:
            raise ConfigError(f"request_s must be a number of seconds >= 0, got {request_s!r}")
        if concurrency is not None and (
            not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
        ):
            raise ConfigError(f"concurrency must be a positive integer or None, got {concurrency!r}")
        self.request_s = float(request_s)
        self.concurrency = concurrency
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._script: ScriptChoice | None
        self._cycle: list[FakeTrace] | None = None
        if isinstance(script, list | tuple):
            if not script:
                raise ConfigError("the list of fake scripts is empty")
            self._cycle = [_resolve(s) for s in script]
            self._script = None
        elif script is None or callable(script):
            self._script = script
        elif isinstance(script, str | FakeTrace):
            self._script = _resolve(script)
        else:
            raise ConfigError(f"cannot use {type(script).__name__} as a fake script")
        self.requests: list[GenerationRequest] = []
        self.chosen: list[str] = []
        self.chunks_sent = 0
        self.closed = False

    def pick(self, request: GenerationRequest) -> FakeTrace:
        """The script this backend streams for ``request`` (the n-th call's, for a cycling list)."""
        if self._cycle is not None:  # a continuation keeps its question's script
            fresh = sum(1 for r in self.requests if not r.assistant_prefix)
            turn = fresh - 1 if request.assistant_prefix and fresh else fresh
            return self._cycle[turn % len(self._cycle)]
        if self._script is None:
            return choose_script(request)
        if isinstance(self._script, FakeTrace):
            return self._script
        if callable(self._script):
            return _resolve(self._script(request))
        return _resolve(self._script)

    def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        """Stream the chosen script as :class:`Delta` chunks."""
        if self.closed:
            raise BackendError("the fake backend is closed: create a new one")
        trace = self.pick(request)
        self.requests.append(request)
        self.chosen.append(trace.name)
        return self._stream(continuation(trace.text, request.assistant_prefix), trace.finish_reason)

    def _engine_slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """One of the paced engine's ``concurrency`` slots (a semaphore per event loop)."""
        if self.concurrency is None:
            return contextlib.nullcontext()
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.concurrency))
        return self._slots[1]

    async def _stream(self, text: str, finish: Literal["stop", "length"]) -> AsyncIterator[Delta]:
        n = self.chunk_chars
        pieces = [text[i : i + n] for i in range(0, len(text), n)] or [""]
        last = len(pieces) - 1
        async with self._engine_slot():
            if self.request_s > 0:
                await asyncio.sleep(self.request_s)  # the engine's time: no CPU of ours
            for i, piece in enumerate(pieces):
                if self.closed:
                    raise BackendError("the fake backend was closed during generation")
                if self.delay_s > 0:
                    await asyncio.sleep(self.delay_s)
                else:
                    await asyncio.sleep(0)  # a cancellation point, like a real engine's await
                self.chunks_sent += 1
                yield Delta(piece, finish if i == last else None)

    async def close(self) -> None:
        """Stop serving; idempotent."""
        self.closed = True
