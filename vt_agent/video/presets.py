"""Named sampling presets: how many frames to take and how many pixels each keeps."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vt_agent.errors import ConfigError

__all__ = [
    "DEFAULT_PRESET",
    "FPS_MAX_FRAMES",
    "FPS_MIN_FRAMES",
    "FRAME_FACTOR",
    "MAX_FPS",
    "MAX_FRAMES_LIMIT",
    "MAX_PIXELS_LIMIT",
    "PAPER_PIXELS",
    "PIXEL_FACTOR",
    "PRESETS",
    "Preset",
    "get_preset",
    "make_preset",
    "preset_problems",
    "smart_nframes",
]

PAPER_PIXELS = 128 * 28 * 28  # 100,352: Video-Thinker's min = max pixels per frame
FRAME_FACTOR = 2  # qwen-vl-utils: frame counts are multiples of the temporal patch size
FPS_MIN_FRAMES = 4  # qwen-vl-utils defaults for fps-based sampling
FPS_MAX_FRAMES = 768
PIXEL_FACTOR = 28  # patch 14 x merge 2
MAX_FRAMES_LIMIT = 4096  # more is surely a typo
MAX_PIXELS_LIMIT = 16384 * 28 * 28  # qwen-vl-utils IMAGE_MAX_TOKEN_NUM * 28 * 28
MAX_FPS = 120.0


class Preset(BaseModel):
    """How to sample a video: a fixed frame count (``num_frames``) or a rate (``fps``).

    ``min_pixels``/``max_pixels`` bound each frame's area for the Qwen ``smart_resize`` rule.
    With ``fps``, the frame count is ``duration * fps`` clamped to ``[min_frames, max_frames]``
    and rounded down to an even number (qwen-vl-utils ``smart_nframes``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="preset name, recorded in SamplingRecord.preset")
    num_frames: int | None = Field(default=None, description="fixed, even frame count")
    fps: float | None = Field(default=None, description="frames per second of video (rate-based sampling)")
    min_frames: int = Field(default=FPS_MIN_FRAMES, description="lower bound on frames (fps presets)")
    max_frames: int = Field(default=FPS_MAX_FRAMES, description="upper bound on frames (fps presets)")
    min_pixels: int = Field(default=PAPER_PIXELS, description="minimum pixels per resized frame")
    max_pixels: int = Field(default=PAPER_PIXELS, description="maximum pixels per resized frame")
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> Preset:
        problems = preset_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def preset_problems(p: Preset) -> list[str]:
    """Everything wrong with a preset's values (empty when usable)."""
    out: list[str] = []
    if (p.num_frames is None) == (p.fps is None):
        out.append("give exactly one of num_frames or fps")
    if p.num_frames is not None and not (
        FRAME_FACTOR <= p.num_frames <= MAX_FRAMES_LIMIT and p.num_frames % FRAME_FACTOR == 0
    ):
        out.append(f"num_frames must be an even number from 2 to {MAX_FRAMES_LIMIT}, got {p.num_frames}")
    if p.fps is not None and not (math.isfinite(p.fps) and 0 < p.fps <= MAX_FPS):
        out.append(f"fps must be above 0 and at most {MAX_FPS:g}, got {p.fps}")
    if not FRAME_FACTOR <= p.min_frames <= p.max_frames <= MAX_FRAMES_LIMIT:
        out.append(
            f"need 2 <= min_frames <= max_frames <= {MAX_FRAMES_LIMIT}, got {p.min_frames}..{p.max_frames}"
        )
    if not PIXEL_FACTOR * PIXEL_FACTOR <= p.min_pixels <= p.max_pixels <= MAX_PIXELS_LIMIT:
        out.append(
            f"need {PIXEL_FACTOR * PIXEL_FACTOR} <= min_pixels <= max_pixels <= {MAX_PIXELS_LIMIT}, "
            f"got {p.min_pixels}..{p.max_pixels}"
        )
    return out


def _frames(n: int) -> Preset:
    return Preset(
        name=f"video-thinker-{n}f",
        num_frames=n,
        description=f"{n} frames uniformly over the clip, 128*28*28 pixels each (Video-Thinker paper)",
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _frames(16),
        _frames(32),
        _frames(64),
        Preset(
            name="fps-2",
            fps=2.0,
            description="2 frames per second (qwen-vl-utils default rate), 4..768 frames, 128*28*28 pixels each",
        ),
    )
}

DEFAULT_PRESET = "video-thinker-16f"


def get_preset(preset: str | Preset) -> Preset:
    """The preset named ``preset`` (or ``preset`` itself, re-checked); ConfigError if unusable."""
    valid = ", ".join(PRESETS)
    if isinstance(preset, Preset):
        problems = preset_problems(preset)
        if problems:
            raise ConfigError(f"preset '{preset.name}' is unusable: {'; '.join(problems)}")
        known = PRESETS.get(preset.name)
        if known is not None and known != preset:
            raise ConfigError(
                f"preset name '{preset.name}' is a built-in preset with other values; give yours another name"
            )
        return preset
    if not isinstance(preset, str):
        raise ConfigError(
            f"a preset is a name or a Preset, got {type(preset).__name__}; valid names: {valid}"
        )
    found = PRESETS.get(preset.strip())
    if found is None:
        raise ConfigError(f"unknown preset '{preset}'; valid presets: {valid}")
    return found


def make_preset(**values: object) -> Preset:
    """Build a custom preset, turning validation problems into a ConfigError."""
    try:
        return Preset.model_validate(values)
    except ValidationError as exc:
        msgs = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(
            f"invalid preset {values.get('name', '')!r}: {msgs}; built-in presets: {', '.join(PRESETS)}"
        ) from exc


def smart_nframes(preset: Preset, available: int, duration_s: float) -> int:
    """Frames to sample (qwen-vl-utils ``smart_nframes``), never more than ``available``.

    Unlike qwen-vl-utils, a clip with fewer frames than asked gets all it has (rounded down to
    an even count; a single-frame clip gives 1) instead of an error.
    """
    if available <= 0:
        return 0
    if preset.num_frames is not None:
        n = preset.num_frames
    else:
        assert preset.fps is not None
        min_f = math.ceil(preset.min_frames / FRAME_FACTOR) * FRAME_FACTOR
        max_f = math.floor(min(preset.max_frames, available) / FRAME_FACTOR) * FRAME_FACTOR
        want = duration_s * preset.fps
        n = math.floor(min(max(want, min_f), max_f, available) / FRAME_FACTOR) * FRAME_FACTOR
    n = min(n, available)
    if n >= FRAME_FACTOR:
        n -= n % FRAME_FACTOR
    return max(n, 1)
