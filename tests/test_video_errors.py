"""Bad input: each case raises a specific vt_agent error naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("av")

import video_factory as vf

import vt_agent.video as video
from vt_agent.errors import (
    ConfigError,
    UnsupportedVideoError,
    VideoDecodeError,
    VideoError,
    VideoNotFoundError,
    WindowError,
)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    video.clear_cache()


def _check(exc: pytest.ExceptionInfo[VideoError], path: Path, words: str) -> None:
    assert exc.value.path == str(path)
    assert str(path) in str(exc.value)
    assert words in str(exc.value)


def _all_entry_points(path: Path) -> list[object]:
    return [
        lambda: video.probe(path),
        lambda: video.sample(path),
        lambda: video.frame_at(path, 0.0),
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    for call in _all_entry_points(path):
        with pytest.raises(VideoNotFoundError) as exc:
            call()  # type: ignore[operator]
        _check(exc, path, "no such file")


@pytest.mark.parametrize(
    "url", ["https://example.com/a.mp4", "s3://bucket/y.avi", "data:video/mp4;base64,AAAA"]
)
def test_urls_are_refused(url: str) -> None:
    with pytest.raises(VideoNotFoundError, match="is a URL"):
        video.sample(url)


def test_file_url_is_accepted(bbb: Path) -> None:
    assert video.probe(f"file://{bbb}").decoded_frames == 132


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(VideoNotFoundError) as exc:
        video.sample(tmp_path)
    _check(exc, tmp_path, "is a directory")


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(VideoDecodeError) as exc:
        video.probe(path)
    _check(exc, path, "empty file (0 bytes)")


def test_text_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    for call in _all_entry_points(path):
        with pytest.raises(VideoDecodeError) as exc:
            call()  # type: ignore[operator]
        _check(exc, path, "not a video")


def test_truncated_mp4_without_index(tmp_path: Path, bbb: Path) -> None:
    """bigbuckbunny.mp4 keeps its index (moov) at the end: half the file has none, nothing decodes."""
    path = vf.truncated(tmp_path / "half.mp4", bbb)
    with pytest.raises(VideoDecodeError) as exc:
        video.sample(path)
    _check(exc, path, "truncated")


def test_headers_but_no_frames(tmp_path: Path) -> None:
    """An AVI cut right after its headers (or with its frame data zeroed): nothing decodes."""
    src = vf.cfr_video(tmp_path / "ok.avi", n=10).read_bytes()
    movi = src.index(b"movi") + 4
    cut = tmp_path / "cut.avi"
    cut.write_bytes(src[:movi])
    zeroed = tmp_path / "zeroed.avi"
    zeroed.write_bytes(src[:movi] + bytes(len(src) - movi))
    for path in (cut, zeroed):
        with pytest.raises(VideoDecodeError) as exc:
            video.sample(path)
        _check(exc, path, "no frame decodes")


def test_tiny_truncated_clip_gives_one_frame(tmp_path: Path, city: Path) -> None:
    """The first 2 KB of an MPEG-PS hold one (partial) frame: one frame, recorded, not an error."""
    path = vf.truncated(tmp_path / "tiny.mpg", city, fraction=2048 / city.stat().st_size)
    pv = video.sample(path)
    rec = pv.record
    assert rec.decoded_frames == 1 and rec.indices == [0] and rec.timestamps_s == [0.0]
    assert rec.grid_thw == (1, 16, 30) and rec.video_tokens == 120
    x = video.video_model_inputs(pv.frames, rec.second_per_grid_ts)
    assert x.pixel_values_videos.shape == (480, 1176)  # padded to 2 frames by repeating the last


def test_audio_only(tmp_path: Path) -> None:
    path = vf.audio_only(tmp_path / "tone.m4a")
    with pytest.raises(UnsupportedVideoError) as exc:
        video.sample(path)
    _check(exc, path, "no video stream (audio only (aac))")


def test_audio_with_cover_art(tmp_path: Path) -> None:
    """A music file's cover picture is a 'video' stream of one still: not a video."""
    path = vf.audio_only(tmp_path / "song.m4a", cover_art=True)
    with pytest.raises(UnsupportedVideoError) as exc:
        video.probe(path)
    _check(exc, path, "audio only (aac) with cover art")


def test_unknown_codec(tmp_path: Path) -> None:
    src = vf.cfr_video(tmp_path / "ok.avi", n=10)
    path = vf.unknown_codec_avi(tmp_path / "odd.avi", src)
    with pytest.raises(UnsupportedVideoError) as exc:
        video.probe(path)
    _check(exc, path, "unknown to FFmpeg")


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (10.0, 20.0, "outside the clip"),
        (-5.0, -1.0, "outside the clip"),
        (2.0, 2.0, "not after its start"),
        (3.0, 1.0, "not after its start"),
        (float("nan"), 1.0, "finite"),
        (90.0, None, "not before the end of the clip"),  # open end: the start is what is wrong
    ],
)
def test_window_outside(bbb: Path, start: float, end: float | None, words: str) -> None:
    with pytest.raises(WindowError) as exc:
        video.sample(bbb, start_s=start, end_s=end)
    _check(exc, bbb.resolve(), words)


def test_frame_at_outside(bbb: Path) -> None:
    with pytest.raises(WindowError, match="outside the clip"):
        video.frame_at(bbb, 99.0)


@pytest.mark.parametrize("name", ["video-thinker-15f", "", "VIDEO-THINKER-16", "fps-0"])
def test_unknown_preset_names_valid_ones(bbb: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="video-thinker-16f, video-thinker-32f, video-thinker-64f, fps-2"):
        video.sample(bbb, name)


def test_bad_preset_object_is_config_error(bbb: Path) -> None:
    bad = video.Preset.model_construct(
        name="mine",
        num_frames=0,
        fps=None,
        min_frames=4,
        max_frames=768,
        min_pixels=100352,
        max_pixels=100352,
        description="",
    )
    with pytest.raises(ConfigError, match="num_frames must be an even number"):
        video.sample(bbb, bad)
