"""The chat model that weighs descriptions (comparison, synthesis): any LangChain chat model, a
vt-agent backend used for text (the OpenAI-compatible server: ``load_backend("openai", ...)``),
or a plain ``async (messages) -> str`` function. Its prompt is ordinary text, not the
Video-Thinker trace prompt; the options keep the ``Options:`` + ``A. text`` layout."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from vt_agent.errors import BackendError, ConfigError
from vt_agent.prompts import build_question

__all__ = ["CHAT_SYSTEM", "ChatFn", "as_chat", "chat_messages", "read_reply"]

ChatFn = Callable[[list[tuple[str, str]]], Awaitable[str]]
"""``[(role, text), ...] -> reply text``; roles are ``system`` and ``user``."""

CHAT_SYSTEM = (
    "You answer a question about several videos. You cannot see them: a video model looked at each "
    "video on its own and reported what it saw, with time spans. Use only that evidence. Name the "
    "videos your answer rests on as 'Video N'. End with one line 'Answer: X' where X is the option "
    "letter for a multiple-choice question, or a short answer otherwise."
)
_ANSWER_RE = re.compile(r"^\s*\**answer\**\s*[:：]\s*\**\s*(.+?)\s*$", re.I | re.M)
_VIDEO_RE = re.compile(r"\bvideo\s*#?\s*(\d+)\b", re.I)


def chat_messages(question: str, options: Sequence[str], evidence_text: str) -> list[tuple[str, str]]:
    """The chat prompt: the evidence, then the question in the ``Options:`` layout."""
    user = f"Evidence from each video:\n{evidence_text}\n\nQuestion: {build_question(question, list(options) or None)}"
    return [("system", CHAT_SYSTEM), ("user", user.rstrip())]


def read_reply(reply: str, options: Sequence[str], n_videos: int) -> tuple[str | None, set[int]]:
    """(answer, videos named) of a chat reply: the last ``Answer:`` line (a letter among the
    options for a multiple choice; None if it names none) and the ``Video N`` mentions."""
    found = _ANSWER_RE.findall(reply)
    answer: str | None = found[-1].strip() if found else None
    if answer is not None and options:
        m = re.match(r"^\(?([A-O])\b", answer)
        letters = {o[0] for o in options}
        answer = m.group(1) if m and m.group(1) in letters else None
    cited = {int(k) - 1 for k in _VIDEO_RE.findall(reply) if 1 <= int(k) <= n_videos}
    return answer, cited


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            c if isinstance(c, str) else str(c.get("text", "")) for c in content if isinstance(c, str | dict)
        )
    return str(content)


def _backend_chat(backend: Any, max_tokens: int) -> ChatFn:
    from vt_agent.backends.base import GenerationRequest

    async def call(messages: list[tuple[str, str]]) -> str:
        request = GenerationRequest(
            messages=[{"role": role, "content": text} for role, text in messages],
            videos=[],
            max_tokens=max_tokens,
            temperature=0.0,
            top_p=1.0,
        )
        from vt_agent.runs import collect_text

        text, _, _ = await collect_text(backend, request)
        return text

    return call


def as_chat(spec: Any, *, max_tokens: int = 512) -> ChatFn:
    """A :data:`ChatFn` from a LangChain chat model (anything with ``ainvoke``), a vt-agent
    backend, a dict of :class:`~vt_agent.backends.openai_backend.OpenAIBackend` options
    (``{"base_url": ..., "model": ...}``, e.g. from a JSON context), or an async function."""
    from vt_agent.backends.base import Backend

    if isinstance(spec, dict):
        from vt_agent.backends.openai_backend import OpenAIBackend

        try:
            spec = OpenAIBackend(**spec)
        except TypeError as exc:
            raise ConfigError(f"chat_model options are not OpenAIBackend options: {exc}") from None
    ainvoke = getattr(spec, "ainvoke", None)
    if callable(ainvoke):  # a LangChain chat model (checked first: it has a ``stream`` too)

        async def call(messages: list[tuple[str, str]]) -> str:
            try:
                reply = await ainvoke(messages)
            except Exception as exc:  # a third-party model's own errors: named, not swallowed
                raise BackendError(f"the chat model failed: {type(exc).__name__}: {exc}") from exc
            return _text_of(getattr(reply, "content", reply))

        return call
    if isinstance(spec, Backend):
        return _backend_chat(spec, max_tokens)
    if callable(spec):
        fn: ChatFn = spec
        return fn
    raise ConfigError(
        f"chat_model must be a LangChain chat model, a vt-agent backend, OpenAI server options or an "
        f"async function, got {type(spec).__name__}"
    )
