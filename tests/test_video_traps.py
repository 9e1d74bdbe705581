"""Container traps made at test time: lying AVI headers, dropped frames, variable frame rate,
truncated files and long videos that need seeking. Every reported time must be the decoded
frame's own presentation time, and sampled_fps must follow the decoded timeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("av")

import video_factory as vf

import vt_agent.video as video
from vt_agent.video import decoding, sampling


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    video.clear_cache()


@pytest.fixture()
def decoded_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts frames that sampling decodes."""
    count = [0]
    real, real_segment = decoding._frames_from, decoding._segment_frames

    def counting(*args: Any) -> Iterator[Any]:
        for frame in real(*args):
            count[0] += 1
            yield frame

    def counting_segment(*args: Any) -> Iterator[Any]:
        for frame in real_segment(*args):
            count[0] += 1
            yield frame

    monkeypatch.setattr(decoding, "_frames_from", counting)
    monkeypatch.setattr(decoding, "_segment_frames", counting_segment)
    return count


def _numbers(frames: np.ndarray) -> list[int]:
    return [vf.frame_number(f) for f in frames]


def test_lying_avi_header(tmp_path: Path) -> None:
    path = vf.lying_avi(tmp_path / "lie.avi", n=40, step=2, fps=25)
    info = video.probe(path)
    assert (info.header_frames, info.header_fps) == (79, 25.0)
    assert info.decoded_frames == 40
    assert info.fps == pytest.approx(12.5)
    assert info.duration_s == pytest.approx(3.2)
    assert any("claims 79 frames" in w for w in info.warnings)
    pv = video.sample(path)
    rec = pv.record
    assert rec.decoded_frames == 40
    assert rec.indices == video.linspace_indices(0, 39, 16)
    # frame k was written at pts 2k on a 1/25 s clock: shown at 0.08 k s, not k / 25
    assert rec.timestamps_s == pytest.approx([0.08 * i for i in rec.indices])
    assert _numbers(pv.frames) == rec.indices
    assert rec.sampled_fps == pytest.approx(16 / 3.2)  # not 16 / 79 * 25
    assert rec.second_per_grid_ts == pytest.approx(0.4)


def test_dropped_frames_avi(tmp_path: Path) -> None:
    keep = [0, 1, 2, 5, 6, 9, 15, 16, 17, 30, 31, 33]
    path = vf.dropped_frames_avi(tmp_path / "drop.avi", keep, fps=25)
    info = video.probe(path)
    assert info.decoded_frames == len(keep)
    assert info.header_frames == 34
    pv = video.sample(path, "video-thinker-64f")  # short clip: all 12 frames, recorded, no error
    rec = pv.record
    assert rec.indices == list(range(12))
    assert _numbers(pv.frames) == keep
    assert rec.timestamps_s == pytest.approx([k / 25 for k in keep])
    assert rec.duration_s == pytest.approx((33 + 2) / 25)  # last frame lasts as long as the one before
    assert rec.sampled_fps == pytest.approx(12 / rec.duration_s)


def test_variable_frame_rate_mp4(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.15, 0.5, 0.52, 1.0, 1.7, 1.75, 2.0, 2.4, 2.45, 3.3, 3.31, 4.0]
    path = vf.vfr_mp4(tmp_path / "vfr.mp4", times)
    info = video.probe(path)
    assert info.decoded_frames == len(times)
    assert info.duration_s == pytest.approx(4.0 + 0.69)
    pv = video.sample(path)
    rec = pv.record
    assert rec.indices == list(range(14))
    assert rec.timestamps_s == pytest.approx(times, abs=1e-9)
    assert _numbers(pv.frames) == rec.indices
    win = video.sample(path, start_s=0.9, end_s=2.1)
    assert win.record.indices == [5, 6, 7, 8]
    assert win.record.timestamps_s == pytest.approx([1.0, 1.7, 1.75, 2.0])
    assert _numbers(win.frames) == [5, 6, 7, 8]
    assert win.record.sampled_fps == pytest.approx(4 / (2.4 - 1.0))


def test_frame_at_uses_presentation_time(tmp_path: Path) -> None:
    path = vf.vfr_mp4(tmp_path / "vfr.mp4", [0.0, 0.5, 0.6, 2.0, 2.2])
    for t, k in [(0.0, 0), (0.49, 0), (0.55, 1), (1.9, 2), (2.0, 3), (2.3, 4)]:
        assert vf.frame_number(np.asarray(video.frame_at(path, t, max_side=None))) == k


def test_start_offset_is_removed(city: Path) -> None:
    pv = video.sample(city, "video-thinker-32f")
    assert pv.record.timestamps_s[0] == 0.0
    assert pv.record.timestamps_s == pytest.approx([i * 0.04 for i in pv.record.indices])


def test_long_video_seeks(tmp_path: Path, decoded_count: list[int]) -> None:
    path = vf.cfr_video(tmp_path / "long.mp4", n=3000, fps=25, codec="libx264", gop=50)
    pv = video.sample(path)
    rec = pv.record
    assert rec.decoded_frames == 3000 and rec.duration_s == pytest.approx(120.0)
    assert _numbers(pv.frames) == rec.indices == video.linspace_indices(0, 2999, 16)
    assert rec.timestamps_s == pytest.approx([i / 25 for i in rec.indices])
    assert decoded_count[0] < 3000 / 4  # seeks to keyframes instead of decoding everything
    # same frames as a plain forward decode
    video.clear_cache()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decoding, "SEEK_MIN_SKIP", 10**9)
        mp.setattr(sampling, "KEEP_PACKETS_MAX", 0)  # the forward pass, no kept packets
        plain = video.sample(path, cache=False)
    assert np.array_equal(plain.frames, pv.frames)
    assert plain.record == pv.record
    decoded_count[0] = 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sampling, "KEEP_PACKETS_MAX", 0)  # packets too big to keep: seeking instead
        sought = video.sample(path, cache=False)
    assert np.array_equal(sought.frames, pv.frames) and sought.record == pv.record
    assert decoded_count[0] < 3000 / 4


def test_segments_decode_only_up_to_each_sample(tmp_path: Path, decoded_count: list[int]) -> None:
    """With a keyframe every 12 frames, each sample needs its keyframe and the frames up to it:
    the rest of every group of pictures is never decoded, and the timeline stays unverified."""
    path = vf.cfr_video(tmp_path / "gop.avi", n=240, fps=25, gop=12)
    pv = video.sample(path)
    rec = pv.record
    assert rec.indices == video.linspace_indices(0, 239, 16)
    assert _numbers(pv.frames) == rec.indices
    from vt_agent.video import probing

    got = probing.probe_packets(Path(rec.path))
    assert got is not None
    keys = got[1].keyframes
    assert len(keys) >= 240 // 12
    spans = {max(k for k in keys if k <= i): i for i in rec.indices}  # keyframe -> last sample after it
    assert decoded_count[0] == sum(i - k + 1 for k, i in spans.items()) < 240 / 2
    assert video.probe(path, decode_all=False).frames_verified is False
    assert video.probe(path).decoded_frames == 240  # a full probe still decodes everything


def test_long_video_window_decodes_little(tmp_path: Path, decoded_count: list[int]) -> None:
    path = vf.cfr_video(tmp_path / "long.mp4", n=3000, fps=25, codec="libx264", gop=50)
    pv = video.sample(path, start_s=60.0, end_s=62.0)
    assert pv.record.indices[0] == 1500 and pv.record.indices[-1] == 1550
    assert _numbers(pv.frames) == pv.record.indices
    assert decoded_count[0] <= 2 * 51 + 50


def test_truncated_avi_decodes_what_is_there(tmp_path: Path, vtest: Path) -> None:
    path = vf.truncated(tmp_path / "half.avi", vtest)
    info = video.probe(path)
    assert 300 < info.decoded_frames < 795
    assert any("claims 795 frames" in w for w in info.warnings)
    rec = video.sample(path).record
    assert rec.decoded_frames == info.decoded_frames
    assert rec.indices[-1] == info.decoded_frames - 1


def test_packet_and_decoded_timelines_agree(tmp_path: Path, bbb: Path, city: Path, vtest: Path) -> None:
    """Sampling before and after a full probe gives the same record (the packet shortcut is exact)."""
    paths = [
        bbb,
        city,
        vtest,
        vf.lying_avi(tmp_path / "l.avi"),
        vf.vfr_mp4(tmp_path / "v.mp4", [0, 0.3, 0.35, 1]),
    ]
    for p in paths:
        video.clear_cache()
        first = video.sample(p, "video-thinker-32f").record
        video.clear_cache()
        video.probe(p)
        second = video.sample(p, "video-thinker-32f").record
        assert first == second, p


@pytest.mark.parametrize(
    ("name", "fmt"), [("bf.mp4", None), ("bf.mkv", None), ("bf.ts", None), ("raw.h264", "h264")]
)
def test_reordered_frames_and_containers(tmp_path: Path, name: str, fmt: str | None) -> None:
    """H.264 with B-frames in MP4, Matroska, MPEG-TS and a raw stream (no timestamps at all)."""
    path = vf.cfr_video(tmp_path / name, n=60, fps=25, codec="libx264", bframes=3, fmt=fmt)
    pv = video.sample(path)
    rec = pv.record
    assert rec.decoded_frames == 60
    assert rec.indices == video.linspace_indices(0, 59, 16)
    assert _numbers(pv.frames) == rec.indices
    assert rec.timestamps_s == pytest.approx([i / 25 for i in rec.indices])
    assert rec.sampled_fps == pytest.approx(16 / 2.4)
    info = video.probe(path)
    if fmt == "h264":
        assert any("no timestamp" in w for w in info.warnings)
    else:
        assert info.warnings == []


def test_probe_without_decoding_everything(tmp_path: Path) -> None:
    path = vf.lying_avi(tmp_path / "lie.avi", n=40)
    quick = video.probe(path, decode_all=False)
    assert quick.frames_verified is False and quick.decoded_frames == 40
    full = video.probe(path)
    assert full.frames_verified is True
    assert full.model_dump(exclude={"frames_verified"}) == quick.model_dump(exclude={"frames_verified"})
    # once known, the decoded timeline is what a quick probe returns
    assert video.probe(path, decode_all=False).frames_verified is True


def test_window_between_two_frames(tmp_path: Path) -> None:
    path = vf.vfr_mp4(tmp_path / "vfr.mp4", [0.0, 0.5, 0.6, 2.0, 2.2])
    pv = video.sample(path, start_s=1.0, end_s=1.5)
    rec = pv.record
    assert rec.indices == [2] and rec.timestamps_s == pytest.approx([0.6])
    assert _numbers(pv.frames) == [2]
    assert rec.sampled_fps == pytest.approx(1 / 1.4)  # the frame stays on screen 0.6 .. 2.0 s
    assert rec.window == (1.0, 1.5)


def test_city_window_starts_at_the_cut(city: Path) -> None:
    rec = video.sample(city, start_s=4.64, end_s=7.6).record
    assert rec.indices[0] == 116 and rec.timestamps_s[0] == pytest.approx(4.64)
    assert rec.indices[-1] == 189
    assert rec.sampled_fps == pytest.approx(16 / (74 * 0.04))


def test_cover_art_stream_is_skipped(tmp_path: Path) -> None:
    path = vf.cfr_video(tmp_path / "with_cover.mp4", n=30, codec="libx264", cover_art=True)
    import av

    with av.open(str(path)) as c:
        art = int(av.stream.Disposition.attached_pic)
        assert len(c.streams.video) == 2 and any(int(v.disposition) & art for v in c.streams.video)
    pv = video.sample(path)
    assert pv.record.decoded_frames == 30 and video.probe(path).codec == "h264"
    assert _numbers(pv.frames) == pv.record.indices


@pytest.mark.parametrize("lie", ["extra", "missing"])
def test_packet_index_that_lies_falls_back_to_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lie: str
) -> None:
    """If the packets promise a frame that does not decode (or hide one that does), sampling
    notices while decoding and redoes the plan from the fully decoded timeline."""
    from vt_agent.video import probing

    path = vf.cfr_video(tmp_path / "c.avi", n=40)
    truth = video.sample(path, cache=False)
    real = probing._scan_packets

    def lying(p: Path, keep_bytes: int = 0) -> tuple[object, object, object]:
        head, tl, kept = real(p, keep_bytes)  # the packets are kept as read: they disagree now
        assert tl is not None
        pts = list(tl.pts)
        if lie == "extra":
            pts.append(pts[-1] + 1)  # a last frame that never decodes
        else:
            del pts[20]  # a frame in the middle the index forgot
        return (
            head,
            probing.Timeline(tuple(pts), tl.time_base, tl.keyframes, tl.last_duration, verified=False),
            kept,
        )

    monkeypatch.setattr(probing, "_scan_packets", lying)
    video.clear_cache()
    pv = video.sample(path)
    assert pv.record == truth.record
    assert _numbers(pv.frames) == truth.record.indices
    assert video.probe(path, decode_all=False).frames_verified is True
