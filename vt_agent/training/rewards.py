"""GRPO rewards: accuracy (exact letter), format (the project's rule), optional grounding IoU.

Each reward follows TRL's reward-function signature ``f(completions, **columns) -> list[float | None]``;
``record`` is the dataset column holding each sample's training record as JSON
(:func:`vt_agent.training.collate.dataset_rows`). Completions may be plain strings or TRL's
conversational ``[{"role": "assistant", "content": ...}]``.

* :func:`accuracy_reward`: 1.0 when the answer rules of docs/protocol.md
  (:func:`vt_agent.trace.extract_answer`) gives the record's letter, else 0.0.
* :func:`format_reward`: 1.0 when :func:`vt_agent.trace.check_format` passes (at least one
  ``<time><caption><think>`` group, balanced flat tags, one non-empty ``<answer>`` at the very
  end), else 0.0. This rule is this project's choice: the paper does not publish its own.
* :func:`grounding_reward`: for records with annotated ``spans``, the mean over those spans of
  the best IoU (seconds) with any ``<time>`` span of the completion (docs/protocol.md, Grounding and captions: mIoU on one
  sample); ``None`` (no reward, ignored by TRL) for records without spans.

The paper's GRPO reward is accuracy + format (weights 1, 1); grounding is optional.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vt_agent.trace import check_format, extract_answer, parse_trace
from vt_agent.training.collate import record_from_row

__all__ = [
    "REWARDS",
    "accuracy_reward",
    "completion_text",
    "format_reward",
    "grounding_reward",
    "reward_functions",
    "span_iou",
]

RewardFunc = Callable[..., list[float | None]]


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the last message of a conversational completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, list):
            return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        return str(content)
    raise TypeError(f"a completion must be a string or a list of messages, got {type(completion).__name__}")


def _records(record: Sequence[Any] | None, n: int) -> list[Any]:
    if record is None or len(record) != n:
        raise ValueError(
            f"the reward needs the dataset's 'record' column with one entry per completion ({n}); "
            "build the dataset with vt_agent.training.collate.dataset_rows"
        )
    return [record_from_row({"record": r} if isinstance(r, str) else r) for r in record]


def accuracy_reward(
    completions: Sequence[Any], record: Sequence[Any] | None = None, **_: Any
) -> list[float | None]:
    """1.0 where the answer ladder gives the record's letter, else 0.0."""
    records = _records(record, len(completions))
    return [
        1.0 if extract_answer(completion_text(c)) == r.answer else 0.0
        for c, r in zip(completions, records, strict=True)
    ]


def format_reward(completions: Sequence[Any], **_: Any) -> list[float | None]:
    """1.0 where :func:`vt_agent.trace.check_format` passes, else 0.0."""
    return [1.0 if check_format(completion_text(c)).ok else 0.0 for c in completions]


def span_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal IoU of two spans in seconds (0.0 when they do not overlap; a point inside a span counts 0)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    if union <= 0:
        return 1.0 if a == b else 0.0
    return inter / union


def grounding_reward(
    completions: Sequence[Any], record: Sequence[Any] | None = None, **_: Any
) -> list[float | None]:
    """Mean best IoU of the record's spans with the completion's ``<time>`` spans; None without spans."""
    records = _records(record, len(completions))
    out: list[float | None] = []
    for c, r in zip(completions, records, strict=True):
        if not r.spans:
            out.append(None)
            continue
        parsed = parse_trace(completion_text(c), duration_s=r.duration_s)
        predicted = [
            (s.start_s, s.end_s) for s in parsed.segments if s.start_s is not None and s.end_s is not None
        ]
        scores = [max((span_iou((g.start_s, g.end_s), p) for p in predicted), default=0.0) for g in r.spans]
        out.append(sum(scores) / len(scores))
    return out


REWARDS: dict[str, RewardFunc] = {
    "accuracy": accuracy_reward,
    "format": format_reward,
    "grounding": grounding_reward,
}


def reward_functions(names: Sequence[str]) -> list[RewardFunc]:
    """The reward functions named ``names`` (``accuracy``, ``format``, ``grounding``)."""
    from vt_agent.errors import ConfigError

    unknown = [n for n in names if n not in REWARDS]
    if unknown or not names:
        raise ConfigError(f"unknown or no rewards {unknown or list(names)}; choose from {', '.join(REWARDS)}")
    return [REWARDS[n] for n in names]
