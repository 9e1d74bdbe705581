"""SCRIPTED traces for the ``fake`` backend: hand-written text, not model output.

They imitate the released Video-Thinker-7B's style (docs/protocol.md, Trace grammar: free text, groups
``<time>MM:SS-MM:SS</time><caption>…</caption><think>…</think>`` with transitions, an
option-by-option discussion, ``<answer>X</answer>`` at the end) for the human-written questions
about the bundled clips (``tests/data/videos``: bigbuckbunny, cityCC0, vtest), with spans that
match the described events. Malformed scripts reproduce the known failure modes: no tags, a
``<think>`` wrapper without ``<time>``, nested and unclosed tags, unreadable and out-of-clip
times, output cut off at max tokens, an empty answer, base-Qwen seconds format, and a letter that
contradicts the discussion.

Everything here exists for tests and examples only. Nothing in it looks at a video.

Over 400 lines: mostly data: the hand-written traces themselves.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vt_agent.backends.base import GenerationRequest
from vt_agent.errors import ConfigError
from vt_agent.prompts import SYSTEM_PROMPT, USER_TEMPLATE
from vt_agent.result import mmss

__all__ = [
    "GENERIC_NAME",
    "SCRIPTED_NOTICE",
    "SCRIPTS",
    "FakeTrace",
    "choose_script",
    "generic_trace",
    "get_script",
    "option_letters",
    "question_from_messages",
    "script_names",
    "seen_duration",
]

SCRIPTED_NOTICE = "scripted output of the fake backend: hand-written text, not a model's answer"
GENERIC_NAME = "generic"


@dataclass(frozen=True)
class FakeTrace:
    """One scripted trace. ``finish_reason`` "length" marks a script cut off at max tokens."""

    name: str
    text: str
    description: str
    finish_reason: Literal["stop", "length"] = "stop"
    clip: str | None = None
    """File stem of the bundled clip it was written for (None: any clip)."""
    keywords: tuple[str, ...] = ()
    """Lower-case words the default chooser looks for in the question."""
    auto: bool = True
    """Whether the default chooser may pick it (malformed scripts are picked by name only)."""
    expected_answer: str | None = None
    """The letter the answer rules of docs/protocol.md gives for ``text`` (None when it gives none)."""
    scripted: bool = True


def _t(*parts: str) -> str:
    return "".join(parts)


_BBB_ANIMAL = _t(
    "Let me think about who the main character of this clip is. I should look at the creature that "
    "appears and check its features against the options.\n\n",
    "<time>00:00-00:02</time><caption>A large grey furry animal with long upright ears and a round white "
    "belly climbs out of a hole under the roots of a tree on a grassy hillside.</caption><think>Long ears, "
    "grey fur, a round body and big feet: these are the features of a rabbit, not of a fox or a bear. "
    "It also comes out of a burrow, which rabbits live in.</think>\n\n",
    "Hmm, let's see what happens next...\n\n",
    "<time>00:02-00:05</time><caption>The same grey animal stands up on its hind legs, stretches its arms "
    "wide and yawns, showing two large front teeth.</caption><think>The two big front incisors confirm "
    "it: this is a rabbit. It is clearly the main character, the only animal on screen.</think>\n\n",
    "Now let's go through the options:\n"
    "- A. A fox: a fox would be orange with a pointed snout and a bushy tail. Not what we see.\n"
    "- B. A grey rabbit: grey fur, long ears, big front teeth, living in a burrow. This matches.\n"
    "- C. A squirrel: squirrels are small with a bushy tail; this animal is big and round.\n"
    "- D. A bear: no, the long ears rule that out.\n\n"
    "So the main character is a grey rabbit.\n",
    "<answer>B</answer>",
)

_BBB_ORIGIN = _t(
    "The question asks where the character comes from at the very start, so the first seconds matter most.\n\n",
    "<time>00:00-00:01</time><caption>A grassy hillside with a big tree; under its roots there is a dark "
    "hole in the ground. Something grey moves inside the hole.</caption><think>The camera is on the "
    "hillside at the tree roots, so the character is probably inside that hole.</think>\n\n",
    "Wait, let me check the next moment.\n\n",
    "<time>00:01-00:02</time><caption>A grey rabbit pushes himself up and out of the hole under the roots "
    "and climbs onto the grass.</caption><think>Oh, I see: he climbs out of his burrow in the hillside. He "
    "does not fall, he does not walk in from the side, and there is no bed.</think>\n\n",
    "Let's break it down:\n"
    "- A. He falls from a tree: nothing falls; he is under the tree, not in it.\n"
    "- B. He climbs out of a hole/burrow in the hillside: exactly what the first two seconds show.\n"
    "- C. He walks in from the right: he appears in the middle, from the ground.\n"
    "- D. He wakes up in a bed: there is no bed, only the burrow.\n\n"
    "The answer is B.\n",
    "<answer>B</answer>",
)

_BBB_MIDDLE = _t(
    "To find what happens in the middle of the clip I will look at the beginning, the middle and the end.\n\n",
    "<time>00:00-00:02</time><caption>The rabbit climbs out of a burrow under tree roots.</caption><think>"
    "This is the opening, not the middle.</think>\n\n",
    "Hmm, let's see what happens next...\n\n",
    "<time>00:02-00:04</time><caption>Standing on the grass, the rabbit stretches both arms wide above his "
    "head and opens his mouth in a big yawn.</caption><think>This is the middle of the clip: he stretches "
    "and yawns like someone who just woke up.</think>\n\n",
    "<time>00:04-00:05</time><caption>He lowers his arms and scratches his head with one hand.</caption>"
    "<think>The clip ends with the head scratch, after the stretch.</think>\n\n",
    "Checking the options: A. Eats a flower: he never eats anything. B. Stretches his arms and yawns: yes, "
    "from about 00:02 to 00:04. C. Jumps into a river: there is no river. D. Waves at a bird: no bird "
    "appears.\n\nSo the answer is B.\n",
    "<answer>B</answer>",
)

_BBB_ORDER = _t(
    "I need the order of three actions: (1) yawning with arms stretched, (2) climbing out of the burrow, "
    "(3) scratching his head. Let me find each one in time.\n\n",
    "<time>00:00-00:02</time><caption>The rabbit climbs out of a hole under the tree roots.</caption><think>"
    "Action (2) happens first.</think>\n\n",
    "Hmm, let's see what happens next...\n\n",
    "<time>00:03-00:04</time><caption>He stands with both arms stretched out wide and yawns with his mouth "
    "open.</caption><think>Action (1) comes second.</think>\n\n",
    "<time>00:04-00:05</time><caption>He brings his arms down and rubs the top of his head with one hand."
    "</caption><think>Action (3) is last.</think>\n\n",
    "So the order is 2, then 1, then 3. Option A is 2→1→3, option B is 1→2→3, option C is 3→2→1 and "
    "option D is 2→3→1. Only A matches. Let me verify: the burrow at the start, the yawn in the middle, "
    "the scratch at the end. Yes.\n",
    "<answer>A</answer>",
)

_BBB_SKY = _t(
    "The question is about the weather and the sky. Let me look at the background of the scene.\n\n",
    "<time>00:00-00:02</time><caption>A green grassy hillside with trees and rocks; at the top right the sky "
    "is a pale blue with a soft pink tint.</caption><think>The sky is light and clear; no clouds of rain, "
    "no stars, no snow on the ground.</think>\n\n",
    "<time>00:02-00:05</time><caption>The lighting stays soft and bright while the rabbit stretches; the "
    "grass is green and dry.</caption><think>It looks like an early morning with a clear sky.</think>\n\n",
    "Options: A. Night with stars: it is bright, so no. B. Rain: the grass and the rabbit are dry, no drops. "
    "C. Clear, pale blue/pink sky: this is what we see. D. Snow: everything is green.\n\n"
    "The answer is C.\n",
    "<answer>C</answer>",
)

_CITY_DAY_NIGHT = _t(
    "Let me think about the lighting in this footage to tell whether it is day or night.\n\n",
    "<time>00:00-00:04</time><caption>Tall glass skyscrapers seen from below; their windows glow with "
    "artificial light, green and white, while the sky between them is black.</caption><think>Lit windows "
    "against a black sky: that is night-time.</think>\n\n",
    "Hmm, let's see what happens next...\n\n",
    "<time>00:05-00:07</time><caption>Two towers against a dark-blue sky, their edges lit by lamps.</caption>"
    "<think>Still dark, no sun anywhere. The second shot is at night too.</think>\n\n",
    "Going through the options: A. Day: the sky is dark, so no. B. Night: the lit windows and the dark sky "
    "fit. C. Dawn with sun visible: there is no sun. D. Indoors: we are outside looking up at buildings.\n\n"
    "So the footage was taken at night.\n",
    "<answer>B</answer>",
)

_CITY_SHOTS = _t(
    "To count the camera shots I need to find the cuts, where the picture changes all at once.\n\n",
    "<time>00:00-00:04</time><caption>Several lit towers seen from below, one with wavy white balconies on the "
    "left; the camera drifts slowly.</caption><think>This is one continuous shot: the view moves smoothly."
    "</think>\n\n",
    "Wait, something changes here.\n\n",
    "<time>00:04-00:05</time><caption>The picture switches abruptly to two different towers against a "
    "dark-blue sky.</caption><think>That is a hard cut, around 00:04 to 00:05. A second shot starts."
    "</think>\n\n",
    "<time>00:05-00:07</time><caption>The two towers stay in view until the end, the right one taller with a "
    "slanted top.</caption><think>No further cut until the end of the clip.</think>\n\n",
    "So there is one cut and therefore two shots. A. 1: no, there is a cut. B. 2: yes. C. 3 and D. 4: I "
    "found only one cut.\n",
    "<answer>B</answer>",
)

_CITY_VIEWPOINT = _t(
    "The question is about the camera's viewpoint. Let me look at how the buildings appear.\n\n",
    "<time>00:00-00:04</time><caption>The towers rise towards the top of the frame and converge, their lit "
    "windows stacked upward, with dark sky above them.</caption><think>Converging verticals and sky at the "
    "top mean the camera is low, pointing up.</think>\n\n",
    "Hmm, let me check the second shot as well.\n\n",
    "<time>00:05-00:07</time><caption>Two towers seen from their base, tilting inward against the dark-blue "
    "sky.</caption><think>Again we look up from below.</think>\n\n",
    "Options: A. From above (aerial): then we would see rooftops and streets, not sky. B. At street level "
    "looking along the road: no road is visible. C. Looking up from below: yes. D. From inside an office: "
    "no window frame or interior.\n\nThe answer is C.\n",
    "<answer>C</answer>",
)

_CITY_COLOUR = _t(
    "I need the dominant colour of the lit windows in the first shot, so I will focus on the first part.\n\n",
    "<time>00:00-00:04</time><caption>Office towers with rows of windows glowing green and teal; the building "
    "on the left has white wavy balconies.</caption><think>Most of the lit windows are green or teal. I do not "
    "see red, orange or purple windows.</think>\n\n",
    "<time>00:04-00:05</time><caption>A cut to a different pair of towers.</caption><think>This is the "
    "second shot, which the question does not ask about.</think>\n\n",
    "So for the first shot: A. Green/teal fits. B. Red, C. Orange and D. Purple do not appear.\n",
    "<answer>A</answer>",
)

_CITY_TALLER = _t(
    "The question is about the second shot, after the cut. Let me find it first.\n\n",
    "<time>00:04-00:05</time><caption>The view cuts from the cluster of lit towers to two towers against a "
    "dark-blue sky.</caption><think>The second shot starts here.</think>\n\n",
    "Hmm, let's see what happens next...\n\n",
    "<time>00:05-00:07</time><caption>Two towers: the left one ends lower, the right one rises higher and has "
    "a slanted top.</caption><think>The right tower reaches higher in the frame, so it is the taller one."
    "</think>\n\n",
    "A. The left one: it ends lower. B. The right one: it is taller, with the slanted top. C. They are the "
    "same height: clearly not.\n",
    "<answer>B</answer>",
)

_VTEST_VEHICLE = _t(
    "Let me look at the area in front of the brick building at the top of the frame.\n\n",
    "<time>00:00-00:15</time><caption>A static elevated view of a campus: a brick building at the top, a white "
    "van parked in front of it, a lamp post with a teal sign and orange traffic cones.</caption><think>The "
    "vehicle in front of the building is a white van.</think>\n\n",
    "Hmm, let's see whether it moves later on.\n\n",
    "<time>00:30-00:45</time><caption>Pedestrians in dark coats walk along the path; the white van is still in "
    "the same place.</caption><think>The van stays parked.</think>\n\n",
    "<time>01:00-01:15</time><caption>The same view near the end; the van has not moved.</caption><think>It is "
    "parked there for the whole clip.</think>\n\n",
    "Options: A. A red bus: no bus. B. A white van: yes. C. A black motorbike and D. A green tractor: neither "
    "is visible.\n",
    "<answer>B</answer>",
)

_VTEST_TRIPOD = _t(
    "The question asks which object stands on the lawn for the whole video, so I should check the lawn at "
    "the beginning, middle and end.\n\n",
    "<time>00:00-00:10</time><caption>At the bottom of the frame, a large green lawn with a tripod standing on "
    "it and a yellow cloth lying at the bottom left.</caption><think>A tripod is on the lawn from the start."
    "</think>\n\n",
    "<time>00:40-00:50</time><caption>People walk along the path; the tripod is still standing on the lawn."
    "</caption><think>It has not moved.</think>\n\n",
    "<time>01:10-01:19</time><caption>The end of the clip: the tripod is still there.</caption><think>So the "
    "tripod stands there for the whole video.</think>\n\n",
    "A. A tripod: yes. B. A bicycle, C. A bench, D. A dog: I see none of them standing on the lawn all the "
    "time.\n",
    "<answer>A</answer>",
)

# --- malformed scripts (known failure modes) --------------------------------------------------

_NO_TAGS = _t(
    "The video shows a big grey rabbit climbing out of a hole, then stretching and yawning. Because of his "
    "long ears and big front teeth he is a rabbit, not a fox, a squirrel or a bear.\n\n"
    "Final answer: B"
)

_THINK_WRAPPER = _t(
    "<think>The animal in the video has long ears and grey fur and lives in a burrow, so it must be a rabbit. "
    "A fox would be orange. The answer should be B.</think>\n",
    "<answer>B</answer>",
)

_NESTED = _t(
    "Let me analyse the clip.\n\n",
    "<think>First I look at the start. <time>00:00-00:02</time><caption>A grey rabbit climbs out of a burrow."
    "</caption> That tells me the character is a rabbit.</think>\n",
    "<answer>B</answer>",
)

_UNCLOSED = _t(
    "<time>00:00-00:02</time><caption>A grey rabbit climbs out of a burrow under the tree roots.\n",
    "<think>He is clearly a rabbit.</think>\n",
    "<time>00:02-00:04</time><caption>He stretches and yawns.</caption><think>The middle of the clip.\n",
    "<answer>B</answer>",
)

_UNREADABLE_TIMES = _t(
    "<time>at the beginning</time><caption>A grey rabbit climbs out of a burrow.</caption><think>That is the "
    "start.</think>\n",
    "<time>later-ish</time><caption>He stretches and yawns.</caption><think>That is the middle.</think>\n",
    "So he stretches and yawns in the middle.\n",
    "<answer>B</answer>",
)

_TRUNCATED = _t(
    "Let me think about who the main character of this clip is.\n\n",
    "<time>00:00-00:02</time><caption>A large grey furry animal with long ears climbs out of a hole under the "
    "roots of a tree.</caption><think>Long ears and grey fur: these are features of a rabbit. But wait, let me "
    "look more carefully at the next part before I decide, because the",
)

_EMPTY_ANSWER = _t(
    "<time>00:00-00:04</time><caption>Lit windows of skyscrapers against a black sky.</caption><think>It is "
    "night.</think>\n",
    "The lighting shows night-time, so the answer is B: Night.\n",
    "<answer></answer>",
)

_SECONDS_FORMAT = _t(
    "<time>0.0-4.6 seconds</time><caption>Tall buildings with lit green and white windows under a black sky."
    "</caption><think>The windows are lit and the sky is dark.</think>\n",
    "<time>4.6-7.6 seconds</time><caption>Two towers against a dark-blue sky.</caption><think>Still night."
    "</think>\n",
    "The footage was taken at night.\n",
    "<answer>B</answer>",
)

_CONTRADICTING = _t(
    "<time>00:00-00:02</time><caption>A grey rabbit with long ears climbs out of a burrow.</caption><think>This "
    "is a rabbit.</think>\n",
    "A. A fox: no. B. A grey rabbit: yes, this matches everything. C. A squirrel: no. D. A bear: no.\n"
    "So the answer is B.\n",
    "<answer>C</answer>",
)

_OUT_OF_RANGE = _t(
    "<time>00:00-00:15</time><caption>A grey rabbit climbs out of a burrow and stretches.</caption><think>The "
    "rabbit wakes up.</think>\n",
    "<time>00:30-00:15</time><caption>He scratches his head.</caption><think>The end of the clip.</think>\n",
    "<answer>B</answer>",
)


def _mk(
    name: str,
    text: str,
    description: str,
    answer: str | None,
    *,
    clip: str | None = None,
    keywords: Sequence[str] = (),
    auto: bool = True,
    finish_reason: Literal["stop", "length"] = "stop",
) -> FakeTrace:
    return FakeTrace(
        name=name,
        text=text,
        description="Scripted: " + description,
        finish_reason=finish_reason,
        clip=clip,
        keywords=tuple(keywords),
        auto=auto,
        expected_answer=answer,
    )


SCRIPTS: dict[str, FakeTrace] = {
    t.name: t
    for t in [
        _mk("bbb-animal", _BBB_ANIMAL, "bigbuckbunny Q1, the main character", "B", clip="bigbuckbunny",
            keywords=("animal", "main character")),
        _mk("bbb-origin", _BBB_ORIGIN, "bigbuckbunny Q2, where he comes from", "B", clip="bigbuckbunny",
            keywords=("come from", "comes from", "at the start")),
        _mk("bbb-middle", _BBB_MIDDLE, "bigbuckbunny Q3, the middle of the clip", "B", clip="bigbuckbunny",
            keywords=("middle",)),
        _mk("bbb-order", _BBB_ORDER, "bigbuckbunny Q4, order of actions", "A", clip="bigbuckbunny",
            keywords=("order", "yawns", "scratches")),
        _mk("bbb-sky", _BBB_SKY, "bigbuckbunny Q5, weather and sky", "C", clip="bigbuckbunny",
            keywords=("weather", "sky")),
        _mk("city-day-night", _CITY_DAY_NIGHT, "cityCC0 Q1, day or night", "B", clip="cityCC0",
            keywords=("day or", "night")),
        _mk("city-shots", _CITY_SHOTS, "cityCC0 Q2, number of shots", "B", clip="cityCC0",
            keywords=("shots", "camera shot")),
        _mk("city-viewpoint", _CITY_VIEWPOINT, "cityCC0 Q3, viewpoint", "C", clip="cityCC0",
            keywords=("viewpoint", "filmed")),
        _mk("city-colour", _CITY_COLOUR, "cityCC0 Q4, window colour", "A", clip="cityCC0",
            keywords=("colour", "color", "windows")),
        _mk("city-taller", _CITY_TALLER, "cityCC0 Q5, the taller tower", "B", clip="cityCC0",
            keywords=("taller",)),
        _mk("vtest-vehicle", _VTEST_VEHICLE, "vtest Q1, the parked vehicle", "B", clip="vtest",
            keywords=("vehicle", "parked")),
        _mk("vtest-tripod", _VTEST_TRIPOD, "vtest Q2, the object on the lawn", "A", clip="vtest",
            keywords=("lawn", "whole video")),
        _mk("no-tags", _NO_TAGS, "no tags at all, 'Final answer:' line", "B", auto=False),
        _mk("think-wrapper", _THINK_WRAPPER, "Video-R1 style: one <think> wrapper, no <time>", "B", auto=False),
        _mk("nested", _NESTED, "<time>/<caption> nested inside <think>", "B", auto=False),
        _mk("unclosed", _UNCLOSED, "a <caption> and a <think> never closed", "B", auto=False),
        _mk("unreadable-times", _UNREADABLE_TIMES, "<time> holding words, not times", "B", auto=False),
        _mk("truncated", _TRUNCATED, "cut off at max tokens inside a <think>; no <answer>, so the §5 ladder "
            "reads the whole text and rung 4 finds 'A ' in 'A large grey'", "A", auto=False,
            finish_reason="length"),
        _mk("empty-answer", _EMPTY_ANSWER, "empty <answer></answer> after a discussion naming B", None,
            auto=False),
        _mk("seconds-format", _SECONDS_FORMAT, "base Qwen2.5-VL '0.0-4.6 seconds' spans (cityCC0)", "B",
            clip="cityCC0", auto=False),
        _mk("contradicting", _CONTRADICTING, "discussion says B, <answer> says C", "C", auto=False),
        _mk("out-of-range", _OUT_OF_RANGE, "spans past the end of a 5 s clip, one reversed", "B", auto=False),
    ]
}  # fmt: skip


def script_names() -> list[str]:
    """Names of all scripts (``generic`` is built per request and not listed)."""
    return list(SCRIPTS)


def get_script(name: str) -> FakeTrace:
    """The script called ``name``; :class:`ConfigError` listing the names if there is none."""
    try:
        return SCRIPTS[name]
    except KeyError:
        raise ConfigError(
            f"no fake script named {name!r}; choose one of: {', '.join(SCRIPTS)} "
            "(or pass the trace text itself)"
        ) from None


_SUFFIX = USER_TEMPLATE.split("{Question}", 1)[1]


def question_from_messages(messages: Sequence[dict[str, Any]]) -> str:
    """The ``{Question}`` text of the last user turn (the whole user text if not our template)."""
    text = ""
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            texts = [str(c["text"]) for c in content if isinstance(c, dict) and "text" in c]
            if texts:
                text = texts[-1]
    if text.startswith(SYSTEM_PROMPT + "\n\n"):
        text = text[len(SYSTEM_PROMPT) + 2 :]
    if text.endswith(_SUFFIX):
        text = text[: -len(_SUFFIX)]
    return text


_OPTION_LINE = re.compile(r"^([A-O])\.\s", re.MULTILINE)


def option_letters(question: str) -> list[str]:
    """Letters of the options listed after ``Options:`` in a question, in order."""
    at = question.rfind("\nOptions:\n")
    if at < 0:
        return []
    return _OPTION_LINE.findall(question[at:])


def seen_duration(request: GenerationRequest) -> tuple[float | None, str | None]:
    """``(duration the model saw, clip stem)`` of the request's first video; (None, None) without one."""
    if not request.videos:
        return None, None
    record = request.videos[0].record
    duration = record.duration_s if record.window is None else record.window[1] - record.window[0]
    return duration, Path(record.path).stem


def generic_trace(question: str, duration_s: float | None) -> str:
    """A grounded trace for any question: three spans covering ``[0, duration_s]``, first option.

    The captions say plainly that nothing was looked at.
    """
    d = 10.0 if duration_s is None or duration_s <= 0 else duration_s
    cuts = [float(math.floor(x)) for x in (0.0, d / 3, 2 * d / 3, d)]  # whole seconds inside the clip
    labels = ["the opening part", "the middle part", "the last part"]
    letters = option_letters(question)
    parts = ["Let me think about the question step by step and go through the clip from start to end.\n\n"]
    for i, label in enumerate(labels):
        if i:
            parts.append("Hmm, let's see what happens next...\n\n")
        parts.append(
            f"<time>{mmss(cuts[i])}-{mmss(cuts[i + 1])}</time>"
            f"<caption>Scripted placeholder for {label} of the clip: the fake backend does not look at the "
            f"video.</caption><think>A real model would describe the key visual clues of {label} here and "
            "relate them to the question.</think>\n\n"
        )
    if letters:
        parts.append(
            "Now let's go through the options: "
            + " ".join(f"{L}. considered." for L in letters)
            + f"\nThis scripted trace always picks the first option, {letters[0]}.\n"
        )
        parts.append(f"<answer>{letters[0]}</answer>")
    else:
        parts.append("This is an open question; a scripted trace cannot answer it.\n")
        parts.append("<answer>no answer: scripted trace</answer>")
    return "".join(parts)


def choose_script(request: GenerationRequest) -> FakeTrace:
    """The default choice: the bundled-clip script whose keywords best match the question, else generic.

    A script written for one clip is only chosen when the request's first video has that file stem
    (or when the request has no video).
    """
    question = question_from_messages(request.messages)
    duration, stem = seen_duration(request)
    low = question.lower()
    best: FakeTrace | None = None
    best_score = 0
    for script in SCRIPTS.values():
        if not script.auto:
            continue
        if stem is not None and script.clip is not None and script.clip != stem:
            continue
        score = sum(1 for k in script.keywords if k in low)
        if score > best_score:
            best, best_score = script, score
    if best is not None:
        return best
    return FakeTrace(
        name=GENERIC_NAME,
        text=generic_trace(question, duration),
        description="Scripted: generic grounded trace over the clip's duration, first option",
        expected_answer=letters[0] if (letters := option_letters(question)) else None,
    )
