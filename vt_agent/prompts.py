"""The exact Video-Thinker prompt (docs/protocol.md, Prompt), question building and message layout.

``SYSTEM_PROMPT`` and ``USER_TEMPLATE`` are the released model's strings byte for byte, quirks
included (backticks around the tags, "such as such as", ``tags.Follow``); they ship as package
data in ``vt_agent/data/`` and are never stripped or tidied.

Message layout for one video (the authors' layout)::

    system: [text: SYSTEM_PROMPT]
    user:   [video 0, text: USER_TEMPLATE with {Question} filled]

Multi-video layout (this project's extension, not something the model was trained on): each
video is preceded by a text label entry, by default ``"Video 1: "``, ``"Video 2: "``, ... (the
same words Qwen's own chat template writes with ``add_vision_id``), and the question text comes
after the last video::

    user: [text "Video 1: ", video 0, text "Video 2: ", video 1, text: USER_TEMPLATE(...)]

A single video gets no label unless ``labels`` is given explicitly. ``no_system=True`` gives the
authors' variant for models that take no system message: one user turn whose text is
``SYSTEM_PROMPT + "\\n\\n" + user_text``.

Options: ``format_options`` accepts plain texts (letters ``A. ``, ``B. ``, ... are added) or
texts that already carry their letters as ``"A. x"``, ``"A) x"`` or ``"(A) x"`` (normalised to
``"A. x"``; the letters must run A, B, C, ... in order). At most 15 options (A..O, the letters the
answer rules of docs/protocol.md know).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

from vt_agent.errors import ConfigError

__all__ = [
    "MAX_OPTIONS",
    "OPTION_LETTERS",
    "QWEN2_5_VL_CHAT_TEMPLATE",
    "SYSTEM_PROMPT",
    "USER_TEMPLATE",
    "build_messages",
    "build_question",
    "default_video_label",
    "format_options",
    "render_chat_text",
    "user_text",
]


def _read(name: str) -> str:
    data = resources.files("vt_agent").joinpath("data", name).read_bytes()
    return data.decode("utf-8")


SYSTEM_PROMPT: str = _read("system_prompt.txt")
"""The released system prompt, exact (1,284 bytes, no trailing newline)."""

USER_TEMPLATE: str = _read("user_template.txt")
"""The released user template, exact (425 bytes); one ``{Question}`` placeholder."""

OPTION_LETTERS = "ABCDEFGHIJKLMNO"
MAX_OPTIONS = len(OPTION_LETTERS)

# Qwen2-VL / Qwen2.5-VL chat template (tokenizer_config / chat_template.json of
# Qwen/Qwen2.5-VL-7B-Instruct, which Video-Thinker-7B keeps). render_chat_text reproduces it.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_LETTERED = re.compile(r"^\s*(?:\(([A-Za-z])\)|([A-Za-z])[.)])[ \t]*(.*)$", re.DOTALL)


def _lettered(option: str) -> tuple[str, str] | None:
    """``(LETTER, text)`` if ``option`` starts with ``A.``, ``A)`` or ``(A)``; else None."""
    m = _LETTERED.match(option)
    if m is None:
        return None
    letter = (m.group(1) or m.group(2)).upper()
    rest = m.group(3)
    # "A.B. Smith" or "A.5 kg" are not lettered; the letter must be followed by space or end.
    after = option.lstrip()[3 if m.group(1) else 2 :]
    if after and not after[0].isspace():
        return None
    return letter, rest.strip()


def format_options(options: Sequence[str]) -> list[str]:
    """Options as the model sees them: ``["A. text", "B. text", ...]``.

    Plain texts get letters added; already-lettered texts (``A. x``, ``A) x``, ``(A) x``) are
    normalised to ``A. x``. Raises :class:`ConfigError` for no options, more than 15, empty
    texts, a mix of lettered and plain options, or letters out of order.
    """
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise ConfigError(
            f"options must be a list of strings, got {type(options).__name__}; "
            'pass e.g. ["A. Day", "B. Night"] or ["Day", "Night"]'
        )
    opts = list(options)
    if not opts:
        raise ConfigError("options is empty: give at least one option, or none at all for an open question")
    if len(opts) > MAX_OPTIONS:
        raise ConfigError(
            f"{len(opts)} options given; at most {MAX_OPTIONS} (A..O) are supported by the answer rules"
        )
    for i, o in enumerate(opts):
        if not isinstance(o, str):
            raise ConfigError(f"option {i + 1} is {type(o).__name__}, not a string")
        if not o.strip():
            raise ConfigError(f"option {i + 1} is empty: every option needs a text")
    parsed = [_lettered(o) for o in opts]
    n_lettered = sum(p is not None for p in parsed)
    if n_lettered == 0:
        return [f"{OPTION_LETTERS[i]}. {o.strip()}" for i, o in enumerate(opts)]
    if n_lettered != len(opts):
        plain = [i + 1 for i, p in enumerate(parsed) if p is None]
        raise ConfigError(
            f"options mix lettered and plain texts (options {plain} have no letter): "
            'letter all of them ("A. x", "B. y") or none ("x", "y")'
        )
    out = []
    for i, p in enumerate(parsed):
        assert p is not None
        letter, text = p
        if letter != OPTION_LETTERS[i]:
            raise ConfigError(
                f"option {i + 1} carries letter {letter}, expected {OPTION_LETTERS[i]}: "
                "lettered options must run A, B, C, ... in order"
            )
        if not text:
            raise ConfigError(f"option {letter} has a letter but no text")
        out.append(f"{letter}. {text}")
    return out


def build_question(problem: str, options: Sequence[str] | None = None) -> str:
    """The ``{Question}`` text: ``problem + "\\nOptions:\\n" + "A. x\\n" + ...`` (evaluation form).

    ``options`` None or empty gives an open question: ``problem`` alone.
    """
    if not isinstance(problem, str) or not problem.strip():
        raise ConfigError("the question is empty: give the question text")
    if options is None or (not isinstance(options, str) and len(options) == 0):
        return problem
    lettered = format_options(options)
    return problem + "\nOptions:\n" + "".join(o + "\n" for o in lettered)


def user_text(question: str) -> str:
    """``USER_TEMPLATE.format(Question=question)``: the user turn's text."""
    return USER_TEMPLATE.format(Question=question)


def default_video_label(index: int) -> str:
    """The label written before video ``index`` (0-based) in the multi-video layout."""
    return f"Video {index + 1}: "


def build_messages(
    question_text: str,
    n_videos: int = 1,
    labels: Sequence[str] | None = None,
    *,
    no_system: bool = False,
) -> list[dict[str, Any]]:
    """Chat messages for ``question_text`` (the ``{Question}`` content, see :func:`build_question`).

    One video: ``system -> user[video, text]``, exactly the authors' layout. Several videos:
    each preceded by its label (``labels[i]`` or ``"Video i+1: "``). ``no_system=True``: a single
    user turn with ``SYSTEM_PROMPT + "\\n\\n" + user_text``. Video entries are
    ``{"type": "video", "video": i}``.
    """
    if not isinstance(n_videos, int) or n_videos < 0:
        raise ConfigError(f"n_videos must be a non-negative integer, got {n_videos!r}")
    if labels is not None:
        if isinstance(labels, str) or len(labels) != n_videos:
            raise ConfigError(f"labels must be a list with one label per video ({n_videos}), got {labels!r}")
        label_list: list[str | None] = list(labels)
    elif n_videos > 1:
        label_list = [default_video_label(i) for i in range(n_videos)]
    else:
        label_list = [None] * n_videos
    text = user_text(question_text)
    content: list[dict[str, Any]] = []
    for i, label in enumerate(label_list):
        if label:
            content.append({"type": "text", "text": label})
        content.append({"type": "video", "video": i})
    if no_system:
        content.append({"type": "text", "text": SYSTEM_PROMPT + "\n\n" + text})
        return [{"role": "user", "content": content}]
    content.append({"type": "text", "text": text})
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": content},
    ]


def render_chat_text(
    messages: Sequence[dict[str, Any]],
    *,
    add_generation_prompt: bool = True,
    add_vision_id: bool = False,
) -> str:
    """Render ``messages`` with the Qwen2.5-VL chat template, without transformers.

    Byte for byte what ``apply_chat_template(messages, tokenize=False)`` gives with
    :data:`QWEN2_5_VL_CHAT_TEMPLATE` (including the default system turn Qwen inserts when the
    first message is not a system message). Each video becomes one
    ``<|vision_start|><|video_pad|><|vision_end|>``; the backend expands ``<|video_pad|>``.
    """
    out: list[str] = []
    images = 0
    videos = 0
    for i, message in enumerate(messages):
        role = message.get("role")
        if not isinstance(role, str):
            raise ConfigError(f"message {i} has no role: {message!r}")
        if i == 0 and role != "system":
            out.append("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
        out.append(f"<|im_start|>{role}\n")
        content = message.get("content")
        if isinstance(content, str):
            out.append(content + "<|im_end|>\n")
            continue
        if not isinstance(content, list):
            raise ConfigError(f"message {i} content must be a string or a list, got {type(content).__name__}")
        for entry in content:
            kind = entry.get("type")
            if kind == "image" or "image" in entry or "image_url" in entry:
                images += 1
                if add_vision_id:
                    out.append(f"Picture {images}: ")
                out.append("<|vision_start|><|image_pad|><|vision_end|>")
            elif kind == "video" or "video" in entry:
                videos += 1
                if add_vision_id:
                    out.append(f"Video {videos}: ")
                out.append("<|vision_start|><|video_pad|><|vision_end|>")
            elif "text" in entry:
                out.append(str(entry["text"]))
        out.append("<|im_end|>\n")
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)
