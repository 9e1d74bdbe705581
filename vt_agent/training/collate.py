"""Training batches with video, built by this project's own preprocessing (no processor, no torchvision).

Every sample goes through the same path as inference (``vt_agent.backends.transformers_backend``):
``vt_agent.video.sample`` (16 frames, 128*28*28 pixels with the default preset
``video-thinker-16f``), the exact prompt (``vt_agent.prompts.build_messages`` over the record's
``question_text``), the model's chat template with every ``<|video_pad|>`` expanded
(``vt_agent.backends._tokens.build_prompt_tokens``) and ``vt_agent.video.video_model_inputs``
for the pixels. So the model trains on exactly the inputs it is later asked with.

The SFT collator appends the target ``trace + "\\n" + "<answer>X</answer>"`` and the end-of-turn
token ``<|im_end|>`` after the generation prompt ``<|im_start|>assistant\\n``; labels are ``-100``
everywhere except on those assistant tokens. A batch carries ``input_ids``, ``attention_mask``,
``labels``, ``mm_token_type_ids`` (2 on video tokens: transformers 5 computes M-RoPE positions only
with it), ``pixel_values_videos`` (all samples' patches, concatenated in batch order),
``video_grid_thw`` ``[B, 3]`` and ``second_per_grid_ts`` ``[B]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vt_agent._lazy import require
from vt_agent.errors import ConfigError, TrainingError
from vt_agent.video.presets import DEFAULT_PRESET

if TYPE_CHECKING:
    pass

FEATURE = "Training"
IGNORE_INDEX = -100
VIDEO_PAD = "<|video_pad|>"
END_OF_TURN = "<|im_end|>"

__all__ = [
    "IGNORE_INDEX",
    "EncodedPrompt",
    "TrainingError",
    "VideoSFTCollator",
    "dataset_rows",
    "encode_prompt",
    "record_from_row",
    "video_tensors",
]


@dataclass(frozen=True)
class EncodedPrompt:
    """One sample's prompt: token ids with video pads expanded, and its video inputs (numpy)."""

    input_ids: np.ndarray  # int64 [L], ends with "<|im_start|>assistant\n"
    mm_token_type_ids: np.ndarray  # int64 [L], 2 on video tokens
    pixel_values_videos: np.ndarray  # float32 [N, 1176]
    video_grid_thw: np.ndarray  # int64 [3]
    second_per_grid_ts: float

    @property
    def video_tokens(self) -> int:
        return int((self.mm_token_type_ids == 2).sum())


def record_from_row(row: Mapping[str, Any]) -> Any:
    """A :class:`~vt_agent.training.schema.TrainRecord` from a dataset row (dict) or a record itself."""
    from vt_agent.training.schema import TrainRecord

    if isinstance(row, TrainRecord):
        return row
    encoded = row.get("record")
    if isinstance(encoded, str):  # dataset rows hold the record as one JSON string (see dataset_rows)
        return TrainRecord.model_validate_json(encoded)
    return TrainRecord.model_validate({k: v for k, v in dict(row).items() if k != "prompt"})


def dataset_rows(records: Sequence[Any]) -> list[dict[str, str]]:
    """Rows for a ``datasets.Dataset``: ``record`` (the record as JSON) and ``prompt`` (its ``{Question}`` text).

    One JSON string per record keeps Arrow away from the records' nested, optional fields; the
    trainers and the reward functions read it back with :func:`record_from_row`.
    """
    return [{"record": r.to_json(), "prompt": r.question_text} for r in records]


def encode_prompt(
    tokenizer: Any, video: str, question_text: str, preset: str = DEFAULT_PRESET
) -> EncodedPrompt:
    """Sample ``video`` with ``preset`` and tokenize the exact Video-Thinker prompt for ``question_text``."""
    from vt_agent.backends._tokens import build_prompt_tokens
    from vt_agent.prompts import build_messages
    from vt_agent.video import cached_model_inputs, sample

    prepared = sample(video, preset)
    messages = build_messages(question_text)
    prompt = build_prompt_tokens(tokenizer, messages, [prepared])
    inputs = cached_model_inputs(prepared.frames, prepared.record.second_per_grid_ts)
    grid = np.asarray(inputs.video_grid_thw, dtype=np.int64).reshape(3)
    if tuple(int(x) for x in grid) != tuple(prepared.record.grid_thw):
        raise TrainingError(
            f"{video}: the frames give the grid {tuple(grid)} but the sampling record says "
            f"{tuple(prepared.record.grid_thw)}; clear the frame cache and try again"
        )
    return EncodedPrompt(
        input_ids=prompt.input_ids.astype(np.int64),
        mm_token_type_ids=prompt.mm_token_type_ids.astype(np.int64),
        pixel_values_videos=np.asarray(inputs.pixel_values_videos, dtype=np.float32),
        video_grid_thw=grid,
        second_per_grid_ts=float(inputs.second_per_grid_ts),
    )


def video_tensors(prompts: Sequence[EncodedPrompt], dtype: Any = None) -> dict[str, Any]:
    """``pixel_values_videos`` (concatenated in order), ``video_grid_thw`` [B, 3], ``second_per_grid_ts`` [B]."""
    torch = require("torch", "train", FEATURE)
    pixels = torch.from_numpy(np.concatenate([p.pixel_values_videos for p in prompts], axis=0))
    if dtype is not None:
        pixels = pixels.to(dtype)
    return {
        "pixel_values_videos": pixels,
        "video_grid_thw": torch.from_numpy(np.stack([p.video_grid_thw for p in prompts])),
        "second_per_grid_ts": torch.tensor([p.second_per_grid_ts for p in prompts], dtype=torch.float32),
    }


class VideoSFTCollator:
    """Collate training records (dicts or ``TrainRecord``) into a Qwen2.5-VL SFT batch with video.

    ``max_length`` bounds prompt + target: the target is cut at the end (never the video); a
    prompt longer than ``max_length`` alone raises :class:`TrainingError`. Padding is on the right.
    """

    def __init__(self, tokenizer: Any, preset: str = DEFAULT_PRESET, max_length: int | None = None) -> None:
        if max_length is not None and max_length < 2:
            raise ConfigError(f"max_length must be at least 2 tokens, got {max_length}")
        self.tokenizer = tokenizer
        self.preset = preset
        self.max_length = max_length
        eos = tokenizer.convert_tokens_to_ids(END_OF_TURN)
        if eos is None or eos == getattr(tokenizer, "unk_token_id", None):
            raise ConfigError(f"the tokenizer has no {END_OF_TURN} token: not a Qwen2.5-VL tokenizer")
        self.eos_id = int(eos)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else self.eos_id)

    def target_ids(self, target: str) -> np.ndarray:
        """Token ids of the assistant turn: ``target`` then ``<|im_end|>``."""
        ids = self.tokenizer.encode(target, add_special_tokens=False)
        return np.asarray([*ids, self.eos_id], dtype=np.int64)

    def encode(self, row: Mapping[str, Any]) -> tuple[EncodedPrompt, np.ndarray]:
        record = record_from_row(row)
        prompt = encode_prompt(self.tokenizer, record.video, record.question_text, self.preset)
        target = self.target_ids(record.target)
        if self.max_length is not None:
            room = self.max_length - len(prompt.input_ids)
            if room < 1:
                raise TrainingError(
                    f"record {record.id}: its prompt alone is {len(prompt.input_ids)} tokens "
                    f"({prompt.video_tokens} video), over max_length {self.max_length}; raise max_length "
                    "or use a preset with fewer frames or pixels"
                )
            target = target[:room]
        return prompt, target

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        torch = require("torch", "train", FEATURE)
        if not features:
            raise TrainingError("an empty batch: the dataset gave no samples")
        encoded = [self.encode(f) for f in features]
        length = max(len(p.input_ids) + len(t) for p, t in encoded)
        batch = len(encoded)
        input_ids = np.full((batch, length), self.pad_id, dtype=np.int64)
        attention = np.zeros((batch, length), dtype=np.int64)
        labels = np.full((batch, length), IGNORE_INDEX, dtype=np.int64)
        mm_types = np.zeros((batch, length), dtype=np.int64)
        for i, (prompt, target) in enumerate(encoded):
            n_p, n_t = len(prompt.input_ids), len(target)
            input_ids[i, :n_p] = prompt.input_ids
            input_ids[i, n_p : n_p + n_t] = target
            attention[i, : n_p + n_t] = 1
            labels[i, n_p : n_p + n_t] = target
            mm_types[i, :n_p] = prompt.mm_token_type_ids
        out = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention),
            "labels": torch.from_numpy(labels),
            "mm_token_type_ids": torch.from_numpy(mm_types),
        }
        out.update(video_tensors([p for p, _ in encoded]))
        return out
