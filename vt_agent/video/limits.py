"""Bounds on hostile or broken input: frame size (memory) and frame timing (the model's clock).

* Frame size: a source frame above :func:`max_source_pixels` (default 8192 x 8192) is refused
  before it is converted; set the bound with :func:`set_max_source_pixels`.
* Frame timing: Qwen2.5-VL places each temporal patch at ``second_per_grid_ts * 2`` position ids
  per second. A header claiming a million frames per second makes the frames microseconds
  apart, ``second_per_grid_ts`` nearly 0 and every frame land on the same instant. A rate above
  PLAUSIBLE_FPS is reported as a warning; a timeline whose frames are closer than
  MIN_FRAME_INTERVAL_S on average (or whose sampled span is not a positive, finite time) is
  refused as degenerate.
"""

from __future__ import annotations

import threading

from vt_agent.errors import ConfigError, UnsupportedVideoError

__all__ = [
    "DEFAULT_MAX_SOURCE_PIXELS",
    "MIN_FRAME_INTERVAL_S",
    "PLAUSIBLE_FPS",
    "SETTING",
    "VideoTimingWarning",
    "check_frame_size",
    "check_timeline",
    "max_source_pixels",
    "set_max_source_pixels",
    "timing_warning",
]

DEFAULT_MAX_SOURCE_PIXELS = 8192 * 8192
PLAUSIBLE_FPS = 1000.0  # above: real high-speed footage is rare, broken timestamps common (warning)
MIN_FRAME_INTERVAL_S = 1e-4  # below on average (above 10,000 fps): the timeline is degenerate
SETTING = "vt_agent.video.set_max_source_pixels()"


class VideoTimingWarning(UserWarning):
    """Frame timestamps that are probably wrong (the model's sense of time will be off)."""


_lock = threading.Lock()
_max_pixels = [DEFAULT_MAX_SOURCE_PIXELS]


def max_source_pixels() -> int:
    """Largest source frame (width x height) decoded frames may have."""
    return _max_pixels[0]


def set_max_source_pixels(pixels: int) -> None:
    """Bound the source frame size (width x height) of every video read from now on."""
    if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1:
        raise ConfigError(f"the source pixel limit must be a positive integer, got {pixels!r}")
    with _lock:
        _max_pixels[0] = pixels


def check_frame_size(path: str, width: int, height: int) -> None:
    """UnsupportedVideoError when a width x height frame is above the limit."""
    cap = _max_pixels[0]
    if width * height > cap:
        raise UnsupportedVideoError(
            path,
            f"its frames are {width}x{height} ({width * height:,} pixels), above the limit of {cap:,} "
            f"pixels per frame (set with {SETTING}); downscale it first, "
            "e.g. ffmpeg -i IN -vf scale=1920:-2 OUT",
        )


def timing_warning(frames: int, duration_s: float, header_fps: float) -> str | None:
    """A warning when the frames come faster than any plausible camera (or the header says so)."""
    rate = frames / duration_s if duration_s > 0 else float("inf")
    if frames > 1 and rate > PLAUSIBLE_FPS:
        return (
            f"frames are {1e3 / rate:.3g} ms apart ({rate:.4g} fps): the "
            "timestamps are probably wrong, and the model will see the clip as lasting "
            f"{duration_s:.4g} s"
        )
    if header_fps > PLAUSIBLE_FPS:
        return f"container header claims {header_fps:.4g} fps; times come from the frame timestamps"
    return None


def check_timeline(path: str, frames: int, duration_s: float) -> None:
    """UnsupportedVideoError for a degenerate timeline (see the module doc)."""
    if not (duration_s > 0 and duration_s < float("inf")):
        raise UnsupportedVideoError(
            path, f"its frames span {duration_s} s: the timestamps are unusable; re-encode it with ffmpeg"
        )
    if frames > 1 and duration_s / frames < MIN_FRAME_INTERVAL_S:
        raise UnsupportedVideoError(
            path,
            f"its {frames} frames span only {duration_s:.3g} s ({frames / duration_s:.4g} fps): the "
            "timestamps are degenerate and the model could not tell frames apart in time; "
            "re-encode it at its real rate, e.g. ffmpeg -i IN -r 30 OUT",
        )
