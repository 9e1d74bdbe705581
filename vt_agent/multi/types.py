"""The multi-video result types: the plan, each video's evidence, citations and the answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "Citation",
    "Direction",
    "Form",
    "Kind",
    "Mode",
    "MultiAnswer",
    "Period",
    "Plan",
    "Span",
    "SubQuestion",
    "VideoEvidence",
    "VideoFailure",
]

Kind = Literal["per_video", "selection", "counting", "comparison", "ordering", "synthesis"]
Mode = Literal["per_video", "joint"]
Form = Literal["answer", "yes_no", "count", "describe", "duration", "recorded", "time_of_day"]
Direction = Literal["max", "min", "order"]


class SubQuestion(BaseModel):
    """What each video is asked on its own (it never sees options naming other videos)."""

    form: Form = Field(
        description="answer: the user's question and options; yes_no: options Yes/No; count: open, "
        "a number; describe: open grounded description; duration, recorded: the clip's duration or "
        "creation time read from the file, no model call; time_of_day: open, read as a phase of the day"
    )
    question: str | None = Field(description="the question text (None for duration and recorded)")
    options: list[str] = Field(default_factory=list, description="its options ([] for an open question)")


class Period(BaseModel):
    """The dates a count by recording time is limited to, as the question gives them (read as UTC)."""

    said: str = Field(description='the words of the question, e.g. "after 2020", "before June 2023"')
    start: str | None = Field(description="ISO date and time (UTC) a counted video is at or after; None: any")
    end: str | None = Field(description="ISO date and time (UTC) a counted video is before; None: any")


class Plan(BaseModel):
    """How a question over several videos is answered."""

    kind: Kind
    mode: Mode = Field(description="per_video: one trace per video; joint: one trace over all videos")
    sub: SubQuestion
    direction: Direction | None = Field(
        default=None, description="comparison/ordering: the largest/earliest wins, or a full order"
    )
    named: list[int] | None = Field(
        default=None,
        description="a yes/no question about named videos, 0-based: [a, b] asks whether a comes before "
        '(direction min) or after (max) b ("was video 2 recorded before video 1?"); [a] whether a is '
        'the first (min) or last (max) of all ("was video 1 filmed first?")',
    )
    among: list[int] | None = Field(
        default=None,
        description="the videos a comparison is limited to, 0-based, when the question names two or more "
        '("which was recorded first, video 2 or video 3?"); None: all',
    )
    period: Period | None = Field(
        default=None,
        description='counting by recording time ("how many videos were recorded after 2020?"): the dates',
    )
    not_in_files: str | None = Field(
        default=None,
        description='why the files cannot answer ("which video was uploaded first?": no file states when it '
        "was uploaded): no answer, the recording times listed instead",
    )
    why: str = Field(description="one line: why this kind and mode")
    option_refs: list[list[int] | None] = Field(
        default_factory=list,
        description="per option, the 0-based videos it names ([-1]: all; None: no video)",
    )


class Span(BaseModel):
    """A cited span of one video, in that video's global seconds."""

    segment: int
    start_s: float
    end_s: float
    start: str
    end: str
    caption: str | None = None
    think: str | None = None


class VideoEvidence(BaseModel):
    """What one video gave: the sub-question asked, its evidence, and how it was used."""

    index: int = Field(description="0-based position in the caller's list")
    path: str = Field(description="the path as the caller gave it")
    sub_question: str | None = Field(description="what this video was asked alone (None: joint or duration)")
    sub_options: list[str] = Field(default_factory=list)
    answer: str | None = Field(default=None, description="the sub-question's answer letter, if any")
    answer_text: str | None = Field(default=None, description="the <answer> text, or the option text")
    yes: bool | None = Field(default=None, description="yes_no: the video's yes/no (None: unclear)")
    number: float | None = Field(default=None, description="count: the number said; duration: seconds")
    segments: list[Span] = Field(default_factory=list, description="cited spans (captions)")
    format_ok: bool = True
    used: str = Field(default="", description="how the synthesis used this evidence")
    result: dict[str, object] | None = Field(
        default=None, description="the trace's Result as JSON (thumbnails' pixels dropped)"
    )


class VideoFailure(BaseModel):
    """A video that could not be used."""

    index: int
    path: str
    message: str
    error: str = Field(description="the exception's class name")


class Citation(BaseModel):
    """A span the final answer rests on."""

    video: int
    path: str
    segment: int | None = Field(description="the trace segment (None: the whole clip, from the file)")
    start_s: float
    end_s: float
    start: str
    end: str
    caption: str | None = None


class MultiAnswer(BaseModel):
    """The answer to one question over several videos."""

    question: str
    options: list[str] = Field(default_factory=list, description="lettered, as 'A. text'")
    plan: Plan
    answer: str | None = Field(
        description="the option letter for a multiple choice; the answer text for an open question; "
        "None when the evidence does not decide"
    )
    answer_text: str | None = Field(description="the answer in words, naming the videos it rests on")
    synthesis: Literal["rules", "chat", "joint", "none"] = Field(
        description="rules: decided from the evidence by a rule; chat: by the chat model; "
        "joint: the answer of the one trace over all videos; none: no answer"
    )
    citations: list[Citation] = Field(default_factory=list)
    per_video: list[VideoEvidence] = Field(default_factory=list)
    errors: list[VideoFailure] = Field(default_factory=list)
    partial: bool = Field(default=False, description="True when a video failed or gave no clear evidence")
    warnings: list[str] = Field(default_factory=list)
    joint_result: dict[str, object] | None = Field(default=None, description="joint mode: the trace's Result")
