"""Asking the LLM for a sample and validating its reply, again on a rejected reply."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vt_agent.errors import ConfigError
from vt_agent.training.llm import ChatLLM
from vt_agent.training.replies import GeneratedSample, ReplyRejected, parse_question_reply, parse_trace_reply
from vt_agent.training.schema import Clip, Span
from vt_agent.training.writer_prompts import (
    QUESTION_SYSTEM,
    TRACE_SYSTEM,
    Earlier,
    question_prompt,
    trace_prompt,
)

__all__ = ["REPLY_LOG_CHARS", "LogFn", "TraceWriter"]

REPLY_LOG_CHARS = 4000


def _clip_reply(text: str) -> str:
    return text if len(text) <= REPLY_LOG_CHARS else text[:REPLY_LOG_CHARS] + "...[cut]"


LogFn = Callable[[dict[str, Any]], None]


class TraceWriter:
    """Asks the LLM for a sample and validates the reply, up to ``max_attempts`` times.

    Every rejected reply is reported to ``log`` with its reason and (cut) text.
    """

    def __init__(
        self,
        llm: ChatLLM,
        *,
        max_attempts: int = 3,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
        self.llm = llm
        self.max_attempts = max_attempts
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed

    def _ask(self, system: str, user: str, attempt: int) -> tuple[str, str | None]:
        seed = None if self.seed is None else self.seed + attempt
        reply = self.llm.complete(
            system, user, temperature=self.temperature, max_tokens=self.max_tokens, seed=seed
        )
        return reply.text, reply.finish_reason

    def _loop(
        self,
        sample_id: str,
        system: str,
        user: str,
        parse: Callable[[str], GeneratedSample],
        log: LogFn,
        stage: str,
    ) -> tuple[GeneratedSample | None, int]:
        for attempt in range(1, self.max_attempts + 1):
            text, finish = self._ask(system, user, attempt)
            try:
                if finish == "length":
                    raise ReplyRejected("reply cut off at max_tokens")
                got = parse(text)
            except ReplyRejected as exc:
                log(
                    {
                        "sample": sample_id,
                        "stage": stage,
                        "attempt": attempt,
                        "status": "rejected",
                        "reason": str(exc),
                        "reply": _clip_reply(text),
                    }
                )
                continue
            return got, attempt
        return None, self.max_attempts

    def question(
        self,
        sample_id: str,
        spans: Sequence[Span],
        duration_s: float,
        log: LogFn,
        *,
        earlier: Earlier = (),
    ) -> tuple[GeneratedSample | None, int]:
        """A question, options, answer and trace from timed captions, unlike the ``earlier`` ones."""
        user = question_prompt(spans, duration_s, earlier)
        asked = [q for q, _ in earlier]
        return self._loop(
            sample_id,
            QUESTION_SYSTEM,
            user,
            lambda t: parse_question_reply(t, duration_s, spans, asked),
            log,
            "generate",
        )

    def trace(
        self,
        sample_id: str,
        problem: str,
        options: Sequence[str],
        answer: str,
        duration_s: float,
        log: LogFn,
        *,
        spans: Sequence[Span] = (),
        description: str | None = None,
        clip: Clip | None = None,
        time_reference: str | None = None,
        retry: bool = False,
        stage: str = "generate",
    ) -> tuple[GeneratedSample | None, int]:
        """A trace for an existing question that reaches ``answer``."""
        user = trace_prompt(
            problem,
            options,
            answer,
            duration_s,
            spans=spans,
            description=description,
            clip=clip,
            time_reference=time_reference,
            retry=retry,
        )
        return self._loop(
            sample_id,
            TRACE_SYSTEM,
            user,
            lambda t: parse_trace_reply(t, answer, options, duration_s, spans),
            log,
            stage,
        )
