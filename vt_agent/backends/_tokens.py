"""Prompt tokens for Qwen2.5-VL without the official processor (and without torch).

The chat text is rendered with the model's own chat template, each ``<|video_pad|>`` is expanded to
the video's token count (``t * h * w / 4`` for its grid), and ``mm_token_type_ids`` marks video
tokens with 2 (transformers 5 computes M-RoPE positions only when it is given). The token ids are
expanded directly (special tokens are atomic), which gives exactly the ids the official processor
produces from the expanded text. Shared by the transformers and vLLM backends; numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vt_agent.backends.base import PreparedVideo
from vt_agent.errors import BackendError, ConfigError, ContextLengthError

VIDEO_PAD = "<|video_pad|>"
IMAGE_PAD = "<|image_pad|>"
MERGE_SIZE = 2  # Qwen2.5-VL merges 2x2 patches per token
PATCH_SIZE = 14
TOKEN_PIXELS = (PATCH_SIZE * MERGE_SIZE) ** 2  # pixels of one frame covered by one token: 28*28
VIDEO_TYPE_ID = 2  # mm_token_type_ids value for video tokens (1 is image, 0 text)
# control tokens a continued trace must never carry (they would inject frames or end the turn)
SPECIAL_MARKERS = (
    VIDEO_PAD,
    IMAGE_PAD,
    "<|vision_start|>",
    "<|vision_end|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
)


@dataclass(frozen=True)
class PromptTokens:
    """One tokenized prompt, video placeholders expanded.

    ``video_order[k]`` is the index (into the request's videos) of the k-th video in the prompt;
    the model's video inputs must be given in that order.
    """

    input_ids: np.ndarray  # int64 [L]
    mm_token_type_ids: np.ndarray  # int32 [L]
    video_order: tuple[int, ...]
    video_token_counts: tuple[int, ...]  # per entry of video_order

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def video_tokens(self) -> int:
        return sum(self.video_token_counts)

    @property
    def text_tokens(self) -> int:
        return self.num_tokens - self.video_tokens

    @property
    def attention_mask(self) -> np.ndarray:
        return np.ones_like(self.input_ids)


def video_tokens_for_grid(grid_thw: Sequence[int], merge_size: int = MERGE_SIZE) -> int:
    """Number of ``<|video_pad|>`` tokens for a vision grid ``(t, h, w)`` in patches."""
    t, h, w = (int(x) for x in grid_thw)
    return t * h * w // (merge_size * merge_size)


def video_token_count(video: PreparedVideo) -> int:
    """Token count of one prepared video, checked against its sampling record."""
    record = video.record
    count = video_tokens_for_grid(record.grid_thw)
    if count != record.video_tokens:
        raise BackendError(
            f"inconsistent sampling record for {record.path}: grid {tuple(record.grid_thw)} gives {count} "
            f"video tokens but the record says {record.video_tokens}"
        )
    return count


def video_order(messages: Sequence[dict[str, Any]], n_videos: int) -> tuple[int, ...]:
    """Indices of the videos in the order the chat template places them.

    A video entry is ``{"type": "video", "video": i}``; every one of the ``n_videos`` videos must be
    referenced exactly once.
    """
    order: list[int] = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if content is None:
            raise ConfigError(f"message {i} has no content: {message!r}")
        if isinstance(content, str):
            continue
        for entry in content:
            if not isinstance(entry, dict):
                raise ConfigError(f"message {i} has a content entry that is not a dict: {entry!r}")
            if entry.get("type") == "image" or "image" in entry or "image_url" in entry:
                raise ConfigError(
                    "images are not supported: pass videos (a still image can be a 1-frame clip)"
                )
            if entry.get("type") == "video" or "video" in entry:
                ref = entry.get("video", len(order))
                if not isinstance(ref, int) or isinstance(ref, bool):
                    raise ConfigError(
                        f"message {i}: a video entry must reference a prepared video by index, got {ref!r}"
                    )
                order.append(ref)
    if sorted(order) != list(range(n_videos)):
        raise ConfigError(
            f"the messages reference videos {order} but the request has {n_videos} prepared video(s); "
            f"each must be referenced exactly once as {{'type': 'video', 'video': i}}"
        )
    return tuple(order)


def render_chat(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> str:
    """The chat text with the generation prompt, from the tokenizer's own chat template.

    Tokenizers without a template get the Qwen2.5-VL one (``vt_agent.prompts.render_chat_text``).
    """
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        if not isinstance(text, str):
            raise BackendError(f"the tokenizer's chat template returned {type(text).__name__}, not text")
        return text
    from vt_agent.prompts import render_chat_text

    return render_chat_text(messages, add_generation_prompt=True)


def prefix_ids(tokenizer: Any, text: str, token_ids: Sequence[int] | None) -> np.ndarray:
    """Token ids of an assistant prefix: ``token_ids`` when they still decode to ``text`` (the
    tokens the model generated), else ``text`` tokenized (an edited trace)."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    if any(marker in text for marker in SPECIAL_MARKERS):
        raise ConfigError(
            "the assistant prefix contains a chat or vision control token (such as <|video_pad|>); "
            "remove it from the trace before continuing"
        )
    if token_ids is not None and tokenizer.decode(list(token_ids), skip_special_tokens=False) == text:
        return np.asarray(list(token_ids), dtype=np.int64)
    return np.asarray(tokenizer.encode(text, add_special_tokens=False), dtype=np.int64)


def build_prompt_tokens(
    tokenizer: Any,
    messages: Sequence[dict[str, Any]],
    videos: Sequence[PreparedVideo],
    *,
    assistant_prefix: str = "",
    prefix_token_ids: Sequence[int] | None = None,
) -> PromptTokens:
    """Tokenize the chat for ``videos`` with every ``<|video_pad|>`` expanded, followed by the
    tokens of ``assistant_prefix`` (see :func:`prefix_ids`) when the reply is being continued."""
    order = video_order(messages, len(videos))
    counts = tuple(video_token_count(videos[i]) for i in order)
    text = render_chat(tokenizer, messages)
    pad_id = _token_id(tokenizer, VIDEO_PAD)
    ids = np.asarray(tokenizer.encode(text, add_special_tokens=False), dtype=np.int64)
    if _token_id(tokenizer, IMAGE_PAD, required=False) in set(ids.tolist()):
        raise ConfigError("the prompt contains <|image_pad|>: images are not supported, pass videos")
    where = np.flatnonzero(ids == pad_id)
    if len(where) != len(order):
        raise BackendError(
            f"the chat template produced {len(where)} {VIDEO_PAD} placeholder(s) for {len(order)} video(s); "
            "the model's chat template must place one per video entry"
        )
    pieces: list[np.ndarray] = []
    start = 0
    for pos, count in zip(where.tolist(), counts, strict=True):
        pieces.append(ids[start:pos])
        pieces.append(np.full(count, pad_id, dtype=np.int64))
        start = pos + 1
    pieces.append(ids[start:])
    pieces.append(prefix_ids(tokenizer, assistant_prefix, prefix_token_ids))
    input_ids = np.concatenate(pieces)
    types = np.where(input_ids == pad_id, VIDEO_TYPE_ID, 0).astype(np.int32)
    return PromptTokens(
        input_ids=input_ids, mm_token_type_ids=types, video_order=order, video_token_counts=counts
    )


def count_prompt_tokens(
    tokenizer: Any, messages: Sequence[dict[str, Any]], videos: Sequence[PreparedVideo]
) -> int:
    """Prompt length in tokens: text plus expanded video tokens."""
    return build_prompt_tokens(tokenizer, messages, videos).num_tokens


def check_context(
    prompt: PromptTokens, videos: Sequence[PreparedVideo], max_tokens: int, max_context: int
) -> None:
    """Raise :class:`ContextLengthError` if prompt + ``max_tokens`` exceeds ``max_context``.

    The message says by how much, and how many frames (at the current pixels per frame) or how
    many pixels per frame (at the current frame count) would fit.
    """
    if max_tokens < 1:
        raise ConfigError(f"max_tokens must be at least 1, got {max_tokens}")
    need = prompt.num_tokens + max_tokens
    if need <= max_context:
        return
    over = need - max_context
    head = (
        f"the request needs {need:,} tokens ({prompt.video_tokens:,} video + {prompt.text_tokens:,} text "
        f"+ {max_tokens:,} max new tokens), {over:,} over the context of {max_context:,} tokens."
    )
    budget = max_context - prompt.text_tokens - max_tokens  # tokens left for video
    hints: list[str] = []
    if videos:
        records = [v.record for v in videos]
        frames_now = [len(r.indices) for r in records]
        per_step = sum(r.grid_thw[1] * r.grid_thw[2] // (MERGE_SIZE * MERGE_SIZE) for r in records)
        steps = max(budget, 0) // per_step if per_step else 0
        w, h = records[0].resized
        frames_text = "/".join(str(f) for f in sorted(set(frames_now)))
        if steps >= 1:
            hints.append(
                f"at {w}x{h} pixels per frame, at most {2 * steps} frames per video fit (now {frames_text})"
            )
        else:
            hints.append(f"at {w}x{h} pixels per frame, not even 2 frames fit")
        total_t = sum(r.grid_thw[0] for r in records)
        tokens_per_frame = max(budget, 0) // total_t if total_t else 0
        if tokens_per_frame >= 4:
            px = tokens_per_frame * TOKEN_PIXELS
            hints.append(
                f"at {frames_text} frames, at most {px:,} pixels per frame fit "
                f"(max_pixels={tokens_per_frame}*28*28; now {w * h:,})"
            )
        else:
            hints.append(f"at {frames_text} frames, no usable frame size fits")
    room = max_context - prompt.num_tokens
    if room >= 1:
        hints.append(f"or lower max_tokens to {room:,}")
    elif not videos:
        hints.append("shorten the prompt")
    raise ContextLengthError(head + " To fit: " + "; ".join(hints) + ".")


def _token_id(tokenizer: Any, token: str, *, required: bool = True) -> int:
    tid = tokenizer.convert_tokens_to_ids(token)
    unk = getattr(tokenizer, "unk_token_id", None)
    if tid is None or (unk is not None and tid == unk):
        if required:
            raise BackendError(f"the tokenizer has no {token} token: not a Qwen2.5-VL tokenizer")
        return -1
    return int(tid)
