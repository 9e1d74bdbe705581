"""Hostile video: frames too large (a settable pixel cap, bounded frames in flight) and absurd rates."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import video_factory as vf

import vt_agent.video as video
from vt_agent.errors import ConfigError, UnsupportedVideoError
from vt_agent.video import decoding, limits, resize


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    video.clear_cache()
    yield
    video.clear_cache()
    video.set_max_source_pixels(limits.DEFAULT_MAX_SOURCE_PIXELS)


def test_pixel_cap_is_settable_and_named_in_the_error(tmp_path: Path) -> None:
    path = vf.cfr_video(tmp_path / "clip.avi", n=10)  # 96 x 64 = 6144 pixels
    assert video.max_source_pixels() == 8192 * 8192
    video.set_max_source_pixels(6144)
    assert video.sample(path, cache=False).frames.shape[0] == 10
    video.set_max_source_pixels(6000)
    for call in (lambda: video.sample(path, cache=False), lambda: video.probe(path, cache=False)):
        with pytest.raises(UnsupportedVideoError, match=r"96x64 \(6,144 pixels\).*set_max_source_pixels"):
            call()
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ConfigError, match="positive integer"):
            video.set_max_source_pixels(bad)  # type: ignore[arg-type]


def test_frames_decoded_after_a_small_header_are_checked_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header may understate the size: each frame kept for conversion is checked itself."""
    path = vf.cfr_video(tmp_path / "clip.avi", n=10)
    monkeypatch.setattr(limits, "check_frame_size", _only_decoded_frames(limits.check_frame_size))
    video.set_max_source_pixels(6000)
    with pytest.raises(UnsupportedVideoError, match="set_max_source_pixels"):
        video.sample(path, cache=False)


def _only_decoded_frames(real: Any) -> Any:
    calls = [0]

    def check(path: str, width: int, height: int) -> None:
        calls[0] += 1
        if calls[0] > 1:  # let the header pass, as a lying header would
            real(path, width, height)

    return check


@pytest.mark.parametrize("budget", [1, 10**12])
def test_frames_in_flight_are_bounded(
    vtest: Path, bbb: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    """With a tiny budget (as for 8000 x 8000 frames) one frame converts at a time, and the
    result is the same as with the full pool."""
    assert decoding.in_flight_limit(8000, 8000) == 1 and decoding.in_flight_limit(1280, 720) == 24
    expected = {p: video.sample(p, cache=False).frames for p in (vtest, bbb)}
    seen: list[int] = []
    real_keep = decoding._Converter.keep

    def keep(self: decoding._Converter, pos: int, frame: Any) -> None:
        real_keep(self, pos, frame)
        seen.append(len(self.inflight))

    monkeypatch.setattr(decoding._Converter, "keep", keep)
    monkeypatch.setattr(decoding, "FRAME_BUDGET_BYTES", budget)
    for p, frames in expected.items():
        assert np.array_equal(video.sample(p, cache=False).frames, frames)
    assert seen and (max(seen) == 1 if budget == 1 else max(seen) > 1)


def test_large_frames_resize_band_by_band_identically(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    for shape, (w, h) in [
        ((720, 1280, 3), (448, 252)),
        ((1500, 900, 3), (280, 420)),
        ((60, 80, 3), (112, 84)),
    ]:
        rgb = rng.integers(0, 256, shape, dtype=np.uint8)
        whole = resize.resize_rgb(rgb, w, h)
        monkeypatch.setattr(resize, "WHOLE_FLOAT_BYTES", 0)
        assert np.array_equal(resize.resize_rgb(rgb, w, h), whole)
        monkeypatch.undo()


def _fast_clip(path: Path, fps: int) -> Path:
    """40 frames one tick apart at ``fps`` ticks per second, the header claiming that rate."""
    return vf._encode(path, list(range(40)), Fraction(1, fps), rate=fps, codec="libx264")


@pytest.mark.parametrize("fps", [1_000_000, 2_100_000_000])
def test_degenerate_timelines_are_refused(tmp_path: Path, fps: int) -> None:
    path = _fast_clip(tmp_path / f"fast{fps}.mp4", fps)
    info = video.probe(path)  # probing still describes it, with a warning
    assert info.fps == pytest.approx(fps) and any("timestamps are probably wrong" in w for w in info.warnings)
    for window in ((None, None), (0.0, 1e-5)):
        with pytest.raises(UnsupportedVideoError, match=r"degenerate.*ffmpeg -i IN -r 30 OUT"):
            video.sample(path, start_s=window[0], end_s=window[1], cache=False)


def test_implausible_but_usable_rates_warn(tmp_path: Path) -> None:
    path = _fast_clip(tmp_path / "fast.mp4", 2000)  # 0.5 ms apart: a broken clock, not zero time
    with pytest.warns(video.VideoTimingWarning, match=r"0\.5 ms apart"):
        prepared = video.sample(path, cache=False)
    assert prepared.record.second_per_grid_ts > 0
    assert any("probably wrong" in w for w in video.probe(path).warnings)
    normal = vf.cfr_video(tmp_path / "normal.avi", n=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        video.sample(normal, cache=False)
    assert not any("probably wrong" in w for w in video.probe(normal).warnings)


def test_timeline_checks() -> None:
    limits.check_timeline("x", 1, 0.04)
    limits.check_timeline("x", 100, 0.02)  # 5000 fps: allowed (warned about elsewhere)
    for frames, duration in ((2, 0.0), (2, float("nan")), (2, float("inf")), (100, 0.005)):
        with pytest.raises(UnsupportedVideoError):
            limits.check_timeline("x", frames, duration)
    assert limits.timing_warning(100, 4.0, 25.0) is None
    assert "header claims" in (limits.timing_warning(100, 4.0, 2.1e9) or "")
