"""Planning a question over several videos: its kind, what each video is asked alone, the mode.

Kinds, checked in this order (the first that matches wins):

* counting: "how many videos ...", "in how many clips ..." -> yes/no per video, counted ("how many
  videos were recorded after 2020?": the files' creation times against the dates, no model call);
* when the videos were made (:mod:`vt_agent.multi.when`): "which video was recorded first", "which
  clip is the oldest", "was video 2 filmed before video 1", "order the clips by recording date" ->
  a comparison of the files' creation times (no model call; "when was each video recorded": a
  per-video list of them); "which video was shot later in the day" -> a comparison of the time of
  day each video appears to be filmed at; "which video was uploaded first" -> no answer (no file
  states it), the recording times listed;
* ordering: "which video ... earliest/first/last", "order the videos by when ..." -> yes/no per
  video with its span, ordered by the span's start;
* comparison: "which video is longer / has more people / is brighter" -> the clip's duration read
  from the file, a number per video ("How many people ...?"), or an open description compared by a
  chat model (or, without one, one joint trace);
* selection: "which video shows X", or options that name videos -> yes/no per video;
* synthesis: "what do the videos have in common", "how do they differ" -> an open description per
  video, combined by a chat model (or one joint trace);
* per_video: anything else -> the user's question (and content options) asked of each video.

A sub-question never carries options that name other videos: the video is asked about itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from vt_agent.errors import ConfigError
from vt_agent.multi.refs import option_names_videos, video_refs
from vt_agent.multi.types import Direction, Kind, Mode, Plan, SubQuestion
from vt_agent.multi.when import films_time_of_day, plan_when

__all__ = ["DEFAULT_JOINT_MAX_VIDEOS", "YES_NO", "plan_question", "yes_no_question"]

DEFAULT_JOINT_MAX_VIDEOS = 4
"""Most videos one joint prompt takes (as ``vt-agent reason`` and the MCP tool allow)."""
YES_NO = ["Yes", "No"]
DESCRIBE = "Describe what this video shows: the setting, the main subjects and what happens."

_VIDEOS = r"(?:videos?|clips?)"
_COUNT_RE = re.compile(
    rf"\bhow many (?:of (?:the|these|those) )?{_VIDEOS}\b\s*(.*)$|\bcount the {_VIDEOS}\s+(.*)$", re.I | re.S
)
_WHICH_RE = re.compile(
    rf"\bwhich (?:one )?(?:of (?:the|these|those) )?(?:two |three |\d+ )?{_VIDEOS}\b,?\s*(.*)$", re.I | re.S
)
_ORDER_BY_RE = re.compile(
    rf"\b(?:order|sort|rank) (?:the|these|all) {_VIDEOS} by (?:when|the time|how soon)\s+(.*)$", re.I | re.S
)
_EARLY = r"earliest|first|soonest|earlier|sooner|before the others"
_LATE = r"latest|last(?! (?:night|week|month|year|summer|winter|weekend|time)\b)|later|after the others"
_TEMPORAL_RE = re.compile(rf"\b(?:({_EARLY})|({_LATE}))\b(?!\s+(?:video|clip|one)\b)", re.I)
_LONG_RE = re.compile(r"\b(?:(longer|longest|lasts? the most)|(shorter|shortest|lasts? the least))\b", re.I)
_MORE_RE = re.compile(
    r"\b(?:(more|most)|(fewer|fewest|less|least))\s+([a-z][a-z-]*(?:\s+[a-z][a-z-]*)?)", re.I
)
_ER_RE = re.compile(
    r"\b(bright|dark|bus|bigg|larg|small|high|low|fast|slow|tall|wid|calm|quiet|loud|warm|cold|clos|"
    r"near|noisi|sunni|cloudi|happi|brighter|green|blu|redd)(?:er|est|ier|iest)\b",
    re.I,
)
_WHICH_ONE_RE = re.compile(r"\bwhich (?:one|of them)\b,?\s*(.*)$", re.I | re.S)
_ANY_RE = re.compile(
    rf"\b(?:in|on) (?:any|either|one) of (?:the|these|those) {_VIDEOS}\b|\bin any {_VIDEOS}\b", re.I
)
_EACH_RE = re.compile(
    rf"\b(?:in|of|on|for) (?:each|every|both|all)(?: of)?(?: the| these)? {_VIDEOS}\b", re.I
)
_SYNTH_RE = re.compile(
    r"\b(?:in common|have in common|share[sd]?|similar\w*|differ\w*|summar\w+|compare|contrast|the same|alike|"
    rf"together|across (?:the|all|both) {_VIDEOS}|what (?:do|does) (?:the|all|both|these) {_VIDEOS})\b",
    re.I,
)
_STOP = {"than", "in", "on", "at", "of", "visible", "shown", "overall", "and", "or", "that", "who", "which"}
_ADJ_END = ("ed", "ous", "ful", "ive", "ing", "al", "ic", "ent", "ant", "ish")


def _base_verb(word: str) -> str:
    w = word.lower()
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses", "zes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def _starts_with_subject(text: str) -> bool:
    first = text.split(" ", 1)[0].lower()
    return first in {
        "a", "an", "the", "any", "some", "someone", "somebody", "anyone", "anybody", "there", "it",
        "people", "he", "she", "they", "something", "anything", "two", "three", "several", "many",
    }  # fmt: skip


def _in_this_video(text: str) -> str:
    if re.search(rf"\b(?:in|on) (?:the|this|that|it|each|every) {_VIDEOS}\b|\bin it\b", text, re.I):
        return re.sub(rf"\b(in|on) (?:the|that|each|every) {_VIDEOS}\b", r"\1 this video", text, flags=re.I)
    return text + " in this video"


def yes_no_question(rest: str) -> str:
    """A yes/no question about one video from the predicate of a "which/how many videos" question.

    ``"shows a parked white van?"`` -> ``"Does this video show a parked white van?"``;
    ``"is a van visible"`` -> ``"Is a van visible in this video?"``; anything else is quoted.
    """
    text = re.sub(
        r"^(?:that|which|where|in which|on which)\s+", "", rest.strip().rstrip("?.! ").strip(), flags=re.I
    )
    words = text.split()
    if not words:
        raise ConfigError("the question names no property of the videos to look for: say what to look for")
    first, tail = words[0].lower(), " ".join(words[1:])
    if first in {"does", "do", "did", "can", "could"} and tail:
        aux = {"does": "Does", "do": "Do", "did": "Did", "can": "Can", "could": "Can"}[first]
        return f"{aux} {_in_this_video(tail)}?"
    if first in {"is", "are", "was", "were"} and tail:
        aux = "Is" if first in {"is", "are"} else "Was"
        if _starts_with_subject(tail):
            return f"{aux} {_in_this_video(tail)}?"
        return f"{aux} this video {tail}?"
    if first in {"has", "have"} and tail:
        return f"Does this video have {tail}?"
    if first.isalpha() and first not in {"a", "an", "the"} and tail:
        return f"Does this video {_base_verb(first)} {tail}?"
    return f'Does the following hold for this video: "{text}"?'


def _describe_quality(adj: str) -> SubQuestion:
    return SubQuestion(
        form="describe",
        question=f"How {adj} is this video? Describe what shows it, with the times.",
        options=[],
    )


def _comparison(question: str) -> tuple[SubQuestion, Direction, str] | None:
    """(sub-question, direction, why) when the question compares the videos."""
    direction: Direction
    if m := _LONG_RE.search(question):
        direction = "max" if m.group(1) else "min"
        return SubQuestion(form="duration", question=None), direction, "compares the clips' durations"
    if m := _MORE_RE.search(question):
        direction = "max" if m.group(1) else "min"
        words = [w for w in m.group(3).split() if w.lower() not in _STOP][:2]
        if words and (words[0].lower().endswith(_ADJ_END) or words[0].lower() in {"busy", "crowded"}):
            return _describe_quality(words[0].lower()), direction, f"compares how {words[0]} the videos are"
        if words:
            noun = " ".join(words)
            sub = SubQuestion(
                form="count",
                question=f"How many {noun} can be seen in this video? Answer with a number.",
                options=[],
            )
            return sub, direction, f"compares how many {noun} each video shows"
    if m := _ER_RE.search(question):
        word = m.group(0).lower()
        stem = re.sub(r"(?:iest|ier)$", "y", word)
        stem = re.sub(r"(?:est|er)$", "", stem) if stem == word else stem
        if len(stem) > 2 and stem[-1] == stem[-2]:
            stem = stem[:-1]  # bigg -> big
        direction = (
            "min" if word.startswith(("small", "low", "slow", "dark", "quiet", "calm", "cold")) else "max"
        )
        return _describe_quality(stem), direction, f"compares the videos by '{word}'"
    return None


def _kind(
    question: str, options: Sequence[str], videos: Sequence[str]
) -> tuple[Kind, SubQuestion, Direction | None, str]:
    names_videos = bool(options) and option_names_videos(options, videos)
    which = _WHICH_RE.search(question) or (_WHICH_ONE_RE.search(question) if names_videos else None)
    if m := _COUNT_RE.search(question):
        rest = m.group(1) if m.group(1) is not None else m.group(2)
        sub = SubQuestion(form="yes_no", question=yes_no_question(rest), options=YES_NO)
        return "counting", sub, None, "asks how many videos show something: yes/no per video, counted"
    order_by = _ORDER_BY_RE.search(question)
    temporal = _TEMPORAL_RE.search(question)
    if order_by or (temporal and (which or names_videos)):
        direction: Direction
        if order_by:
            event, direction = order_by.group(1), "order"
        else:
            assert temporal is not None
            event = which.group(1) if which else question
            direction = "min" if temporal.group(1) else "max"
        event = _TEMPORAL_RE.sub("", event)
        event = re.sub(r"\s+", " ", event).strip()
        q = (
            yes_no_question(event)
            if not order_by
            else f'Does the following happen in this video: "{event.rstrip("?. ")}"?'
        )
        sub = SubQuestion(form="yes_no", question=q + " If so, when?", options=YES_NO)
        return "ordering", sub, direction, "asks when something happens across videos: yes/no with its span"
    if (which or names_videos or re.search(rf"\b{_VIDEOS}\b", question, re.I)) and (
        cmp := _comparison(question)
    ):
        sub, direction, why = cmp
        return "comparison", sub, direction, why
    if which or names_videos:
        if which and which.group(1).strip():
            q = yes_no_question(which.group(1))
        else:
            q = f'Does the following hold for this video: "{question.strip().rstrip("?")}"?'
        sub = SubQuestion(form="yes_no", question=q, options=YES_NO)
        if films_time_of_day(question):
            why = "asks which videos were filmed at a time of day, judged from what each shows: yes/no each"
            return "selection", sub, None, why
        return "selection", sub, None, "asks which videos show something: yes/no per video"
    if _ANY_RE.search(question) and not options:  # "is there a rabbit in any of the videos?"
        q = _ANY_RE.sub("in this video", question).strip()
        sub = SubQuestion(form="yes_no", question=q, options=YES_NO)
        return "selection", sub, None, "asks whether any video shows something: yes/no per video"
    if _SYNTH_RE.search(question):
        sub = SubQuestion(form="describe", question=DESCRIBE, options=[])
        return "synthesis", sub, None, "asks about the videos together: an open description per video"
    sub = SubQuestion(form="answer", question=_EACH_RE.sub("in this video", question), options=list(options))
    return "per_video", sub, None, "the same question about each video"


def plan_question(
    question: str,
    options: Sequence[str] | None,
    videos: Sequence[str],
    *,
    mode: Mode | Literal["auto"] | None = None,
    has_chat: bool = False,
    joint_max_videos: int = DEFAULT_JOINT_MAX_VIDEOS,
) -> Plan:
    """The plan for ``question`` over ``videos``. ``mode`` None lets the plan choose: one joint trace
    for comparisons and syntheses that need a model to weigh descriptions when no chat model is
    given and the videos fit one prompt (``joint_max_videos``); per-video traces otherwise."""
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("'question' is empty: give the question text")
    if not videos:
        raise ConfigError("'videos' is empty: give at least one video path")
    if mode == "auto":
        mode = None
    if mode not in (None, "per_video", "joint"):
        raise ConfigError(
            f"mode must be 'per_video', 'joint', or 'auto'/None (the plan chooses), got {mode!r}"
        )
    opts = list(options or [])
    when = plan_when(question, videos, counting=_COUNT_RE.search(question) is not None)
    if when is not None:
        kind, sub, direction, why = when.kind, when.sub, when.direction, when.why
    else:
        kind, sub, direction, why = _kind(question, opts, videos)
    refs = [video_refs(o, videos) for o in opts]
    n = len(videos)
    if mode == "joint" and n > joint_max_videos and sub.form != "recorded":
        raise ConfigError(
            f"joint mode takes at most {joint_max_videos} videos in one prompt, got {n}: "
            "use mode='per_video' (or raise joint_max_videos if your model's context holds them)"
        )
    chosen: Mode
    if sub.form == "recorded":
        chosen, how = "per_video", "read from each file's metadata, no model call"
        how += " (joint mode does not apply)" if mode == "joint" else ""
    elif mode is not None:
        chosen, how = mode, f"{mode} as asked"
    elif sub.form == "describe" and not has_chat and n <= joint_max_videos:
        chosen, how = "joint", "joint: no chat model to weigh the descriptions, and the videos fit one prompt"
    else:
        chosen, how = "per_video", "one trace per video"
    return Plan(
        kind=kind,
        mode=chosen,
        sub=sub,
        direction=direction,
        named=when.named if when else None,
        among=when.among if when else None,
        period=when.period if when else None,
        not_in_files=when.not_in_files if when else None,
        why=f"{why}; {how}",
        option_refs=refs,
    )
