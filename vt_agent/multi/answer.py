"""The multi-video steps as plain async functions: ask one video, ask all jointly, synthesise.

``ask`` is how a step reaches the model: ``async (videos, question, options) -> Result`` (the
graph passes one that streams events; :func:`answer_videos` uses ``VideoReasoner.areason``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from vt_agent.errors import VTAgentError
from vt_agent.multi.chat import ChatFn, chat_messages, read_reply
from vt_agent.multi.evidence import (
    citations_of,
    duration_evidence,
    evidence_from_result,
    evidence_text,
    joint_evidence,
    label,
    result_json,
)
from vt_agent.multi.refs import ALL
from vt_agent.multi.rules import Decision, decide
from vt_agent.multi.types import MultiAnswer, Plan, VideoEvidence, VideoFailure
from vt_agent.multi.when import recorded_evidence
from vt_agent.prompts import format_options
from vt_agent.result import Result
from vt_agent.sandbox import OpenedFile

__all__ = ["Ask", "ask_joint", "ask_video", "failure", "synthesize"]

SCRIPTED = "scripted: the fake backend's traces are hand-written, not a model's answer"


def _scripted(e: VideoEvidence) -> bool:
    return bool(e.result and e.result.get("scripted"))


Ask = Callable[[list[str | OpenedFile], str, list[str] | None], Awaitable[Result]]


async def ask_video(ask: Ask, plan: Plan, index: int, video: str | OpenedFile) -> VideoEvidence:
    """Video ``index`` asked its sub-question alone (a duration or creation time is read from the file).

    ``video``: a path, or a file opened beneath allowed folders (read only through it)."""
    path = str(video)
    if plan.sub.form in ("duration", "recorded"):
        from vt_agent.video import check_source, probe

        whole = plan.sub.form == "duration"  # a creation time needs no decoded timeline
        info = await asyncio.to_thread(probe, check_source(video), decode_all=whole)
        if whole:
            return duration_evidence(index, path, info.duration_s)
        return recorded_evidence(index, path, info.creation_time, info.creation_time_from, info.duration_s)
    assert plan.sub.question is not None
    result = await ask([video], plan.sub.question, plan.sub.options or None)
    return evidence_from_result(plan, index, path, result)


async def ask_joint(
    ask: Ask, videos: Sequence[str | OpenedFile], question: str, options: Sequence[str]
) -> Result:
    """One trace over all videos in one prompt ("Video 1: <video> Video 2: <video> ... question")."""
    return await ask(list(videos), question, list(options) or None)


def failure(index: int, path: str, exc: VTAgentError) -> VideoFailure:
    """A video that could not be used, named with its error."""
    return VideoFailure(index=index, path=path, message=str(exc), error=type(exc).__name__)


async def _chat_decision(
    chat: ChatFn, plan: Plan, question: str, lettered: list[str], evidence: Sequence[VideoEvidence], n: int
) -> tuple[Decision | None, list[str]]:
    try:
        reply = await chat(chat_messages(question, lettered, evidence_text(evidence)))
    except VTAgentError as exc:
        return None, [f"the chat model failed ({exc})"]
    answer, cited = read_reply(reply, lettered, n)
    if answer is None:
        return None, [f"the chat model's reply has no usable 'Answer:' line: {reply[-200:]!r}"]
    k = ord(answer) - ord("A") if lettered else -1
    if 0 <= k < len(plan.option_refs) and (named := plan.option_refs[k]):  # the option names videos
        cited = set(range(n)) if named == [ALL] else set(named)
    used = {e.index: "weighed by the chat model" + (": cited" if e.index in cited else "") for e in evidence}
    return Decision(answer, reply.strip(), cited or {e.index for e in evidence}, used), []


def _joint_answer(
    plan: Plan, question: str, lettered: list[str], videos: Sequence[str], joint: Result
) -> MultiAnswer:
    per_video = [joint_evidence(i, p, joint) for i, p in enumerate(videos)]
    for e in per_video:
        e.used = "seen with the other videos in one prompt" + (": cited" if e.segments else "")
    answer = joint.answer if lettered else joint.answer_text
    warnings = (
        []
        if answer is not None
        else ["the joint trace gave no answer: " + "; ".join(joint.format.problems or ["no <answer>"])]
    )
    return MultiAnswer(
        question=question,
        options=lettered,
        plan=plan,
        answer=answer,
        answer_text=joint.answer_text,
        synthesis="joint" if answer is not None else "none",
        citations=citations_of(per_video),
        per_video=per_video,
        warnings=warnings,
        joint_result=result_json(joint),
    )


async def synthesize(
    question: str,
    options: Sequence[str],
    videos: Sequence[str],
    plan: Plan,
    evidence: Sequence[VideoEvidence],
    errors: Sequence[VideoFailure],
    *,
    chat: ChatFn | None = None,
    joint: Result | None = None,
) -> MultiAnswer:
    """The answer from the evidence: a rule for the kind, else the chat model, else none (open
    questions then get the per-video evidence listed). Failed or unclear videos make it partial."""
    lettered = format_options(options) if options else []
    if joint is not None:
        out = _joint_answer(plan, question, lettered, videos, joint)
        out.warnings += [SCRIPTED] if joint.scripted else []
        return out
    n = len(videos)
    labels = {i: label(i, p) for i, p in enumerate(videos)}
    ev = sorted(evidence, key=lambda e: e.index)
    errs = sorted(errors, key=lambda e: e.index)
    warnings = [f"partial answer: {labels[f.index]} failed ({f.message})" for f in errs]
    unclear = [e for e in ev if e.sub_options == ["Yes", "No"] and e.yes is None]
    warnings += [f"partial answer: {labels[e.index]} gave no clear yes or no" for e in unclear]
    compared = plan.named if plan.named and len(plan.named) == 2 else plan.among or range(n)
    recorded = plan.sub.form == "recorded" and plan.not_in_files is None
    unknown = [e for e in ev if recorded and e.number is None and e.index in compared]
    decision = decide(plan, lettered, ev, labels, n) if ev else None
    how = "rules"
    if decision is None and ev and chat is not None:
        decision, more = await _chat_decision(chat, plan, question, lettered, ev, n)
        warnings += more
        how = "chat"
    if decision is None:
        if ev:
            warnings.append(
                f"no rule decides a {plan.kind} question from descriptions: give a chat model "
                "(GraphContext(chat_model=...)) or use joint mode"
            )
        else:
            warnings.append("no video could be used")
        text = evidence_text(ev) if ev else None
        decision = Decision(
            None if lettered else text, text, set(), {e.index: "listed, not weighed" for e in ev}
        )
    for e in ev:
        e.used = decision.used.get(e.index, "not used")
    if plan.kind == "counting" and (errs or unclear) and decision.answer_text and not recorded:
        decision.answer_text = "at least " + decision.answer_text
    if (errs or unclear or unknown) and decision.answer is not None and decision.answer_text:
        missing = (
            [labels[f.index] + " failed" for f in errs]
            + [labels[e.index] + " unclear" for e in unclear]
            + [labels[e.index] + " recording time unknown" for e in unknown]
        )
        decision.answer_text += f" (partial: {'; '.join(missing)})"
    answer = decision.answer
    return MultiAnswer(
        question=question,
        options=lettered,
        plan=plan,
        answer=answer,
        answer_text=decision.answer_text,
        synthesis=how if answer is not None else "none",  # type: ignore[arg-type]
        citations=citations_of(ev, decision.cited),
        per_video=ev,
        errors=errs,
        partial=bool(errs or unclear or unknown),
        warnings=warnings + decision.warnings + ([SCRIPTED] if any(_scripted(e) for e in ev) else []),
    )
