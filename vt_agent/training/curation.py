"""Hindsight curation (docs/protocol.md, Training recipe): keep a sample only if its own grounding answers it.

For each record, a judge model gets **only** the trace's ``<time>``/``<caption>`` content (one
line ``MM:SS-MM:SS: caption`` per segment; not the video, not the ``<think>`` parts, not the
discussion) with the question and options, and answers with a letter (answer rules, docs/protocol.md).

* right letter: the record is **kept** (``curation.status = "kept"``);
* wrong letter or none: the trace is **regenerated** by the trace writer (the same LLM as the
  builders, told that the earlier captions were not specific enough) and judged again, up to
  ``max_regenerations`` (3) times; a rewritten trace that fails validation counts as one
  regeneration;
* still wrong after that, or no caption to judge: **dropped**.

Every step is a line of the decision log: ``sample``, ``attempt`` (1 = the original trace),
``answer_given``, ``expected``, ``decision`` (``kept``, ``regenerate``, ``dropped``),
``reason``, ``judge`` and the judge's (cut) reply.

Judges: :class:`LLMJudge` (any OpenAI-compatible endpoint, text only: e.g. ``vllm serve
Qwen/Qwen2.5-VL-7B-Instruct``, the paper's judge) and :class:`BackendJudge` (any vt-agent
:class:`~vt_agent.backends.Backend`, called with no video).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from vt_agent.backends.base import Backend, GenerationRequest
from vt_agent.errors import ConfigError
from vt_agent.training.llm import ChatLLM
from vt_agent.training.schema import Curation, JsonlWriter, TrainRecord
from vt_agent.training.writer import REPLY_LOG_CHARS, TraceWriter
from vt_agent.training.writer_prompts import clock

__all__ = [
    "JUDGE_SYSTEM",
    "BackendJudge",
    "CurationStats",
    "Curator",
    "Judge",
    "LLMJudge",
    "evidence_lines",
    "judge_prompt",
]

JUDGE_SYSTEM = "You answer multiple-choice questions about a video from notes on what is seen in it."

JUDGE_USER = """\
You cannot see the video. These notes say what is seen in it at some moments (start-end: what is seen):
{evidence}

Question: {problem}
Options:
{options}
Answer with the letter of the correct option only, written as <answer>X</answer>."""


def evidence_lines(record: TrainRecord) -> list[str]:
    """``"MM:SS-MM:SS: caption"`` for each segment of the trace that has a caption."""
    from vt_agent.trace import parse_trace

    duration = record.duration_s if record.duration_s is not None else 3600.0
    out = []
    for seg in parse_trace(record.trace).segments:
        caption = (seg.caption or "").strip()
        if not caption:
            continue
        if seg.start_s is not None and seg.end_s is not None:
            when = f"{clock(seg.start_s, duration)}-{clock(seg.end_s, duration)}"
        else:
            when = seg.time_text or "?"
        out.append(f"{when}: {' '.join(caption.split())}")
    return out


def judge_prompt(record: TrainRecord) -> str | None:
    """The judge's user message, or None when the trace has no caption."""
    lines = evidence_lines(record)
    if not lines:
        return None
    return JUDGE_USER.format(
        evidence="\n".join(lines), problem=record.problem, options="\n".join(record.options)
    )


class Judge(Protocol):
    """Answers a judge prompt with text (the letter is read with the §5 ladder)."""

    label: str

    def answer(self, prompt: str) -> str: ...


class LLMJudge:
    """A judge behind an OpenAI-compatible endpoint (text only), greedy decoding."""

    def __init__(self, llm: ChatLLM, *, max_tokens: int = 64) -> None:
        self.llm = llm
        self.max_tokens = max_tokens

    @property
    def label(self) -> str:
        return self.llm.label

    def answer(self, prompt: str) -> str:
        return self.llm.complete(JUDGE_SYSTEM, prompt, temperature=0.0, max_tokens=self.max_tokens).text


class BackendJudge:
    """A judge on a vt-agent backend (transformers, vllm, openai, fake), called without video."""

    def __init__(self, backend: Backend, *, max_tokens: int = 64) -> None:
        self.backend = backend
        self.max_tokens = max_tokens
        self.label = f"{backend.name}:{getattr(backend, 'model', '') or '?'}"

    async def _run(self, prompt: str) -> str:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": [{"type": "text", "text": JUDGE_SYSTEM}]},
            {"role": "user", "content": [{"type": "text", "text": prompt}]},
        ]
        request = GenerationRequest(messages=messages, videos=[], max_tokens=self.max_tokens, temperature=0.0)
        from vt_agent.runs import collect_text

        text, _, _ = await collect_text(self.backend, request)
        return text

    def answer(self, prompt: str) -> str:
        return asyncio.run(self._run(prompt))


@dataclass
class CurationStats:
    """Counts of one curation run."""

    records: int = 0
    kept: int = 0
    kept_after_regeneration: int = 0
    dropped: int = 0
    judge_calls: int = 0
    regenerations: int = 0
    kept_at_attempt: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "kept": self.kept,
            "kept_after_regeneration": self.kept_after_regeneration,
            "dropped": self.dropped,
            "judge_calls": self.judge_calls,
            "regenerations": self.regenerations,
            "kept_at_attempt": dict(sorted(self.kept_at_attempt.items())),
        }


class Curator:
    """Runs hindsight curation over records (see the module docstring).

    ``writer`` None: no regeneration (a wrong answer drops the record at once).
    """

    def __init__(
        self,
        judge: Judge,
        writer: TraceWriter | None = None,
        *,
        max_regenerations: int = 3,
        workers: int = 1,
    ) -> None:
        if max_regenerations < 0:
            raise ConfigError(f"max_regenerations must be >= 0, got {max_regenerations}")
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        self.judge = judge
        self.writer = writer
        self.max_regenerations = max_regenerations if writer is not None else 0
        self.workers = workers

    def _judge(self, record: TrainRecord) -> tuple[bool, str | None, str, str]:
        """(judge called, letter, reason, reply) for one judgement."""
        from vt_agent.trace import answer_letter

        prompt = judge_prompt(record)
        if prompt is None:
            return False, None, "the trace has no <time>/<caption> content to judge", ""
        reply = self.judge.answer(prompt)
        letter = answer_letter(reply)
        if letter == record.answer:
            return True, letter, "the captions alone give the right answer", reply
        if letter is None:
            return True, None, "the judge gave no letter", reply
        return True, letter, f"the captions alone give {letter}, not {record.answer}", reply

    def _regenerate(self, record: TrainRecord, log: Callable[[dict[str, Any]], None]) -> TrainRecord | None:
        assert self.writer is not None
        duration = record.duration_s
        if duration is None:
            from vt_agent.video import probe

            duration = probe(record.video).duration_s
        got, attempts = self.writer.trace(
            record.id,
            record.problem,
            record.options,
            record.answer,
            duration,
            log,
            spans=record.spans,
            description=record.description,
            clip=record.clip,
            time_reference=record.meta.get("time_reference") if record.meta else None,
            retry=True,
            stage="regenerate",
        )
        if got is None:
            return None
        new = record.model_copy(deep=True)
        new.trace = got.trace
        new.attempts = record.attempts + attempts
        if got.grounding is not None:
            new.meta["grounding_miou"] = round(got.grounding, 4)
        return TrainRecord.model_validate(new.model_dump())

    def curate_one(self, record: TrainRecord) -> tuple[TrainRecord | None, list[dict[str, Any]]]:
        """The kept record (with ``curation`` filled in) or None, and the decision log entries."""
        log: list[dict[str, Any]] = []
        current = record
        regenerations = 0
        attempt = 0
        letter: str | None = None
        while True:
            attempt += 1
            judged, letter, reason, reply = self._judge(current)
            ok = letter == current.answer
            entry: dict[str, Any] = {
                "sample": record.id,
                "attempt": attempt,
                "judged": judged,
                "answer_given": letter,
                "expected": current.answer,
                "judge": self.judge.label,
                "reason": reason,
                "judge_reply": reply[:REPLY_LOG_CHARS],
            }
            if ok:
                log.append({**entry, "decision": "kept", "regenerations": regenerations})
                kept = current.model_copy(deep=True)
                kept.curation = Curation(
                    status="kept",
                    attempts=attempt,
                    regenerations=regenerations,
                    answer_given=letter,
                    judge=self.judge.label,
                )
                return kept, log
            if regenerations >= self.max_regenerations:
                why = (
                    "no regeneration allowed"
                    if self.max_regenerations == 0
                    else (f"still wrong after {regenerations} regeneration(s)")
                )
                log.append(
                    {
                        **entry,
                        "decision": "dropped",
                        "reason": f"{reason}; {why}",
                        "regenerations": regenerations,
                    }
                )
                return None, log
            log.append({**entry, "decision": "regenerate"})
            # Rewrite until a trace passes validation; each rewrite counts as one regeneration.
            new: TrainRecord | None = None
            while new is None and regenerations < self.max_regenerations:
                regenerations += 1

                def rejected(item: dict[str, Any], n: int = regenerations, at: int = attempt) -> None:
                    log.append({**item, "attempt": at, "regeneration": n, "decision": "rejected_trace"})

                new = self._regenerate(current, rejected)
                if new is None:
                    log.append(
                        {
                            "sample": record.id,
                            "attempt": attempt,
                            "regeneration": regenerations,
                            "decision": "regenerate" if regenerations < self.max_regenerations else "dropped",
                            "reason": "the trace writer gave no valid trace",
                            **(
                                {}
                                if regenerations < self.max_regenerations
                                else {"regenerations": regenerations}
                            ),
                        }
                    )
            if new is None:
                return None, log
            current = new

    def curate(
        self,
        records: Iterable[TrainRecord],
        out: JsonlWriter,
        log: JsonlWriter,
        *,
        dropped: JsonlWriter | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CurationStats:
        """Curate every record: kept ones to ``out``, decisions to ``log``, drops to ``dropped``."""
        items = list(records)
        stats = CurationStats(records=len(items))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for i, (original, (kept, entries)) in enumerate(
                zip(items, pool.map(self.curate_one, items), strict=True), start=1
            ):
                for entry in entries:
                    log.write(entry)
                    if entry.get("judged"):
                        stats.judge_calls += 1
                if kept is not None:
                    assert kept.curation is not None
                    out.write(kept)
                    stats.kept += 1
                    stats.regenerations += kept.curation.regenerations
                    if kept.curation.regenerations:
                        stats.kept_after_regeneration += 1
                    n = kept.curation.attempts
                    stats.kept_at_attempt[n] = stats.kept_at_attempt.get(n, 0) + 1
                else:
                    stats.dropped += 1
                    stats.regenerations += int(entries[-1].get("regenerations", 0)) if entries else 0
                    if dropped is not None:
                        dropped.write(original)
                if progress is not None:
                    progress(i, len(items))
        return stats
