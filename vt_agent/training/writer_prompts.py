"""The prompts that ask a text LLM for a question and a grounded trace (training data building)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from vt_agent.training.schema import Clip, Span

__all__ = [
    "EARLIER_QUESTIONS",
    "GRAMMAR",
    "QUESTION_SYSTEM",
    "QUESTION_USER",
    "RETRY_HINT",
    "TRACE_SYSTEM",
    "TRACE_USER",
    "UNUSED_MOMENTS",
    "Earlier",
    "clock",
    "end_clock",
    "question_prompt",
    "trace_prompt",
]


def clock(seconds: float, duration_s: float) -> str:
    """A time as the traces write it: ``MM:SS``; with tenths (``00:04.6``) for clips under 60 s."""
    from vt_agent.result import mmss

    if duration_s >= 60:
        return mmss(seconds)
    whole, tenth = divmod(round(max(seconds, 0.0) * 10), 10)
    return f"{whole // 60:02d}:{whole % 60:02d}.{tenth}"


GRAMMAR = """\
The reasoning must follow this grammar exactly:
- one or two untagged sentences saying what to look for;
- then 2 to 6 groups, each written <time>{t0}-{t1}</time><caption>what is visible in that span</caption><think>what it \
means for the question</think>, with short untagged transitions between groups \
("Let's see what happens next...");
- times are {fmt} within {start}-{end}; each group looks at one moment of the video;
- captions describe what can be seen, concretely, in the present tense; thinks reason about it;
- tags are never nested; use only the tags <time>, <caption>, <think> and <answer>;
- then an untagged discussion of each option in turn;
- the very last thing is <answer>X</answer> with X the correct letter.
Write as someone watching the video: never mention captions, annotations, descriptions or these instructions."""


QUESTION_SYSTEM = (
    "You write training data for a video reasoning model. You cannot see the video: you get timed "
    "captions that people wrote while watching it. You write one hard multiple-choice question about the "
    "video and the reasoning a careful viewer writes while watching it, grounded in time."
)


QUESTION_USER = """\
Video length: {duration} ({duration_s:.1f} s).
Timed captions (start-end: caption):
{captions}

Write ONE multiple-choice question about this video that can only be answered by looking at at least two of \
these moments (for example: the order of events, what happens before or after something, how many times, why \
something is done, what changes). Give 4 options, A to D, exactly one correct, the wrong ones plausible.

{grammar}

Reply in exactly this layout and nothing else:
<question>the question</question>
<options>
A. ...
B. ...
C. ...
D. ...
</options>
<correct>X</correct>
<trace>the reasoning, ending with <answer>X</answer></trace>"""


TRACE_SYSTEM = (
    "You write training data for a video reasoning model. You get a multiple-choice question about a "
    "video, its correct answer and what is known about the video. You write the reasoning a careful viewer "
    "writes while watching the video, grounded in time, that reaches the correct answer."
)


TRACE_USER = """\
Video length: {duration} ({duration_s:.1f} s).{clip}
What is known about the video:
{known}

Question: {problem}
Options:
{options}
Correct answer: {answer}

{grammar}{retry}

Reply in exactly this layout and nothing else:
<trace>the reasoning, ending with <answer>{answer}</answer></trace>"""


EARLIER_QUESTIONS = """

Questions already written for this video (yours must ask something else, not reword them):
{questions}"""


UNUSED_MOMENTS = """
Build your question on these moments, which no earlier question used, where you can:
{moments}"""


RETRY_HINT = """

An earlier reasoning for this question was not specific enough: someone who read only its <time> and <caption> \
parts could not tell the answer. Make the captions state the decisive visible evidence concretely."""


def end_clock(duration_s: float) -> str:
    """The clip's end as traces may write it (whole seconds rounded down from one minute on)."""
    return clock(math.floor(duration_s) if duration_s >= 60 else duration_s, duration_s)


def _grammar(duration_s: float) -> str:
    fmt = "MM:SS" if duration_s >= 60 else "MM:SS.s (tenths of a second)"
    t0, t1 = ("00:15", "00:30") if duration_s >= 60 else ("00:01.0", "00:02.5")
    return GRAMMAR.format(t0=t0, t1=t1, fmt=fmt, start=clock(0, duration_s), end=end_clock(duration_s))


def _span_lines(spans: Sequence[Span], duration_s: float) -> str:
    return "\n".join(
        f"{clock(s.start_s, duration_s)}-{clock(s.end_s, duration_s)}: {s.caption}"
        for s in spans
        if s.caption
    )


Earlier = Sequence[tuple[str, Sequence[int]]]  # (question, indices of the annotated spans it used)


def question_prompt(spans: Sequence[Span], duration_s: float, earlier: Earlier = ()) -> str:
    """The user message asking for a question and a trace from timed captions.

    ``earlier``: the questions already written for this video, with the indices (into ``spans``)
    of the annotated moments their traces used; the prompt lists them and the unused moments.
    """
    text = QUESTION_USER.format(
        duration=end_clock(duration_s),
        duration_s=duration_s,
        captions=_span_lines(spans, duration_s),
        grammar=_grammar(duration_s),
    )
    if not earlier:
        return text
    head, sep, layout = text.rpartition("\n\nReply in exactly this layout")
    extra = EARLIER_QUESTIONS.format(questions="\n".join(f"- {q}" for q, _ in earlier))
    used = {i for _, moments in earlier for i in moments}
    unused = _span_lines([s for i, s in enumerate(spans) if i not in used], duration_s)
    if unused:
        extra += UNUSED_MOMENTS.format(moments=unused)
    return head + extra + sep + layout


def trace_prompt(
    problem: str,
    options: Sequence[str],
    answer: str,
    duration_s: float,
    *,
    spans: Sequence[Span] = (),
    description: str | None = None,
    clip: Clip | None = None,
    time_reference: str | None = None,
    retry: bool = False,
) -> str:
    """The user message asking for a trace for an existing question."""
    known: list[str] = []
    if description:
        known.append(description.strip())
    captioned = _span_lines(spans, duration_s)
    if captioned:
        known.append("Timed descriptions (start-end: what happens):\n" + captioned)
    plain = [s for s in spans if not s.caption]
    for s in plain:
        known.append(
            f"The question concerns {clock(s.start_s, duration_s)}-{clock(s.end_s, duration_s)} of the video."
        )
    if time_reference and not plain:
        known.append(f"Time reference of the question: {time_reference}")
    if not known:
        known.append("Nothing beyond the question: ground the reasoning in plausible moments of the video.")
    clip_text = ""
    if clip is not None:
        clip_text = (
            f" The question is about the part {clock(clip.start_s, duration_s)}-{clock(clip.end_s, duration_s)}; "
            "times count from the start of the whole video."
        )
    return TRACE_USER.format(
        duration=end_clock(duration_s),
        duration_s=duration_s,
        clip=clip_text,
        known="\n".join(known),
        problem=problem,
        options="\n".join(options),
        answer=answer,
        grammar=_grammar(duration_s),
        retry=RETRY_HINT if retry else "",
    )
