"""Qwen2.5-VL model inputs from resized frames, in numpy (no torch, no torchvision).

Reproduces ``Qwen2VLVideoProcessor``: rescale by 1/255, CLIP mean/std normalisation, pad the
frame count to a multiple of the temporal patch size by repeating the last frame, then cut into
2 x 14 x 14 patches ordered by 2 x 2 merge groups.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from vt_agent.errors import ConfigError

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "MERGE_SIZE",
    "PATCH_SIZE",
    "TEMPORAL_PATCH_SIZE",
    "VideoModelInputs",
    "cached_model_inputs",
    "clear_model_inputs_memo",
    "grid_thw",
    "video_model_inputs",
    "video_tokens",
]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PATCH_SIZE = 14
TEMPORAL_PATCH_SIZE = 2
MERGE_SIZE = 2
_PER_CHANNEL = TEMPORAL_PATCH_SIZE * PATCH_SIZE * PATCH_SIZE  # columns of one channel in a patch row
_COLUMN_MEAN = np.repeat((np.asarray(CLIP_MEAN, dtype=np.float64) * 255.0).astype(np.float32), _PER_CHANNEL)
_COLUMN_STD = np.repeat((np.asarray(CLIP_STD, dtype=np.float64) * 255.0).astype(np.float32), _PER_CHANNEL)


@dataclass(frozen=True)
class VideoModelInputs:
    """``pixel_values_videos`` float32 [N, 1176], ``video_grid_thw`` int64 [3], ``second_per_grid_ts``."""

    pixel_values_videos: np.ndarray
    video_grid_thw: np.ndarray
    second_per_grid_ts: float

    @property
    def video_tokens(self) -> int:
        """Number of ``<|video_pad|>`` tokens: grid t*h*w over the 2x2 merge."""
        t, h, w = (int(v) for v in self.video_grid_thw)
        return t * h * w // (MERGE_SIZE * MERGE_SIZE)


def grid_thw(num_frames: int, height: int, width: int) -> tuple[int, int, int]:
    """Vision grid (t, h, w) for ``num_frames`` frames of height x width pixels."""
    t = -(-num_frames // TEMPORAL_PATCH_SIZE)
    return t, height // PATCH_SIZE, width // PATCH_SIZE


def video_tokens(num_frames: int, height: int, width: int) -> int:
    t, h, w = grid_thw(num_frames, height, width)
    return t * h * w // (MERGE_SIZE * MERGE_SIZE)


def video_model_inputs(frames: np.ndarray, second_per_grid_ts: float) -> VideoModelInputs:
    """Patchify (T, H, W, 3) uint8 frames (H, W multiples of 28) into Qwen2.5-VL inputs."""
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 1:
        raise ConfigError(f"frames must be (T, H, W, 3) with T >= 1, got shape {arr.shape}")
    t, h, w, _ = arr.shape
    unit = PATCH_SIZE * MERGE_SIZE
    if h % unit or w % unit:
        raise ConfigError(f"frame size {w}x{h} is not a multiple of {unit}; resize with smart_resize first")
    if not second_per_grid_ts > 0:
        raise ConfigError(f"second_per_grid_ts must be positive, got {second_per_grid_ts}")
    if pad := -t % TEMPORAL_PATCH_SIZE:  # repeat the last frame up to a whole temporal patch
        arr = np.concatenate([arr, np.repeat(arr[-1:], pad, axis=0)], axis=0)
    gt, gh, gw = arr.shape[0] // TEMPORAL_PATCH_SIZE, h // PATCH_SIZE, w // PATCH_SIZE
    m, p = MERGE_SIZE, PATCH_SIZE
    # (gt, tp, gh/m, m, p, gw/m, m, p, c) -> (gt, gh/m, gw/m, m, m, c, tp, p, p): the layout of
    # torch's (b, t, tp, c, h/m, m, p, w/m, m, p).permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9), moved in uint8
    u = arr.reshape(gt, TEMPORAL_PATCH_SIZE, gh // m, m, p, gw // m, m, p, 3).transpose(
        0, 2, 5, 3, 6, 8, 1, 4, 7
    )
    pixels = np.ascontiguousarray(u).reshape(gt * gh * gw, 3 * TEMPORAL_PATCH_SIZE * p * p).astype(np.float32)
    # fused rescale + normalise, as transformers does: (x - 255*mean) / (255*std) in float32
    pixels -= _COLUMN_MEAN
    pixels /= _COLUMN_STD
    return VideoModelInputs(
        pixel_values_videos=pixels,
        video_grid_thw=np.asarray([gt, gh, gw], dtype=np.int64),
        second_per_grid_ts=float(second_per_grid_ts),
    )


# Model inputs of read-only frame arrays (the frame cache hands out the same array again), so a
# repeated question on a cached video skips the patchify too. An entry lives while its frames do,
# and the memo stays under _MEMO_LIMIT_BYTES of float32 pixels.
_MEMO_LIMIT_BYTES = 256 * 1024 * 1024
_memo: OrderedDict[int, tuple[weakref.ref[np.ndarray], VideoModelInputs]] = OrderedDict()
_memo_lock = threading.RLock()  # a finalizer may run during a GC inside a locked section


def _memo_bytes() -> int:
    return sum(int(mi.pixel_values_videos.nbytes) for _, mi in _memo.values())


def _forget(key: int) -> None:
    with _memo_lock:
        _memo.pop(key, None)


def cached_model_inputs(frames: np.ndarray, second_per_grid_ts: float) -> VideoModelInputs:
    """:func:`video_model_inputs`, remembered for read-only frame arrays while they are alive."""
    key = id(frames)
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None and hit[0]() is frames and hit[1].second_per_grid_ts == float(second_per_grid_ts):
            _memo.move_to_end(key)
            return hit[1]
    inputs = video_model_inputs(frames, second_per_grid_ts)
    read_only = isinstance(frames, np.ndarray) and not frames.flags.writeable
    if read_only and int(inputs.pixel_values_videos.nbytes) <= _MEMO_LIMIT_BYTES:
        inputs.pixel_values_videos.flags.writeable = False  # shared by every caller from now on
        with _memo_lock:
            _memo[key] = (weakref.ref(frames), inputs)
            while _memo_bytes() > _MEMO_LIMIT_BYTES:
                _memo.popitem(last=False)
        weakref.finalize(frames, _forget, key)
    return inputs


def clear_model_inputs_memo() -> None:
    with _memo_lock:
        _memo.clear()
