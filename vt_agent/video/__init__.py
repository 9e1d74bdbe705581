"""Video preparation: probe, sample, resize and patchify exactly as Video-Thinker was trained.

``import vt_agent.video`` is light: PyAV and Pillow load inside the functions that use them.
Times everywhere are seconds from the first decoded frame (presentation timestamps).
"""

import contextlib
from collections.abc import Iterator

from vt_agent.video.cache import FRAMES as _FRAMES
from vt_agent.video.inputs import (
    CLIP_MEAN,
    CLIP_STD,
    VideoModelInputs,
    cached_model_inputs,
    clear_model_inputs_memo,
    grid_thw,
    video_model_inputs,
    video_tokens,
)
from vt_agent.video.limits import VideoTimingWarning, max_source_pixels, set_max_source_pixels
from vt_agent.video.presets import (
    DEFAULT_PRESET,
    PAPER_PIXELS,
    PRESETS,
    Preset,
    get_preset,
    make_preset,
    smart_nframes,
)
from vt_agent.video.probing import (
    VideoInfo,
    check_path,
    check_source,
    clear_probe_cache,
    file_id,
    one_thread,
    probe,
)
from vt_agent.video.resize import resize_rgb, smart_resize
from vt_agent.video.sampling import linspace_indices, sample
from vt_agent.video.thumbs import contact_sheet, frame_at, jpeg_bytes, label_time


def clear_cache() -> None:
    """Forget every cached frame set, model input, probe result and file identity."""
    _FRAMES.clear()
    clear_model_inputs_memo()
    clear_probe_cache()


def set_cache_limit(limit_bytes: int) -> None:
    """Bound the frame cache to ``limit_bytes`` of frames (0 disables it)."""
    _FRAMES.set_limit(limit_bytes)


def cache_info() -> dict[str, int]:
    """Entries, bytes, limit, hits and misses of the frame cache."""
    return _FRAMES.info()


@contextlib.contextmanager
def cache_limit(limit_bytes: int) -> Iterator[None]:
    """Bound the frame cache to ``limit_bytes`` inside the block, then put the old bound back
    (a command run inside a longer process leaves the cache as it found it)."""
    previous = cache_info()["limit_bytes"]
    set_cache_limit(limit_bytes)
    try:
        yield
    finally:
        set_cache_limit(previous)


__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "DEFAULT_PRESET",
    "PAPER_PIXELS",
    "PRESETS",
    "Preset",
    "VideoInfo",
    "VideoModelInputs",
    "VideoTimingWarning",
    "cache_info",
    "cache_limit",
    "cached_model_inputs",
    "check_path",
    "check_source",
    "clear_cache",
    "clear_probe_cache",
    "contact_sheet",
    "file_id",
    "frame_at",
    "get_preset",
    "grid_thw",
    "jpeg_bytes",
    "label_time",
    "linspace_indices",
    "make_preset",
    "max_source_pixels",
    "one_thread",
    "probe",
    "resize_rgb",
    "sample",
    "set_cache_limit",
    "set_max_source_pixels",
    "smart_nframes",
    "smart_resize",
    "video_model_inputs",
    "video_tokens",
]
