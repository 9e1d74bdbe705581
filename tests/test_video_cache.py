"""The frame cache (bounded by bytes, keyed by file identity + preset + window), seeking versus
plain decoding on the real clips, threaded conversion, and concurrent callers."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

import vt_agent.video as video
from vt_agent.video import decoding, sampling


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    video.clear_cache()
    video.set_cache_limit(512 * 1024 * 1024)  # another test (an in-process triage run) may have set 0
    yield
    video.set_cache_limit(512 * 1024 * 1024)
    video.clear_cache()


def test_cache_keys_and_hits(bbb: Path) -> None:
    a = video.sample(bbb)
    assert video.sample(bbb) is a
    b = video.sample(bbb, "video-thinker-32f")
    assert b is not a and b.record.cache_key != a.record.cache_key
    w = video.sample(bbb, start_s=1.0, end_s=3.0)
    assert w.record.cache_key.endswith("@1.000-3.000")
    assert video.sample(bbb, start_s=1.0, end_s=3.0) is w
    assert video.sample(bbb, start_s=1.0000001, end_s=3.0) is w  # same window to the microsecond
    later = video.sample(bbb, start_s=1.0001, end_s=3.0)  # drops the frame at 1.00 s
    assert later.record.indices[0] == 26 and w.record.indices[0] == 25
    assert video.sample(bbb, end_s=99.0, start_s=0.0).record.window == (0.0, 5.28)  # clamped
    assert video.sample(bbb, start_s=0.0, end_s=5.28) is video.sample(bbb, start_s=0.0, end_s=50.0)
    info = video.cache_info()
    assert info["entries"] == 5 and info["hits"] == 5
    full = video.sample(bbb, start_s=0.0, end_s=5.28)
    assert info["bytes"] == sum(x.frames.nbytes for x in (a, b, w, later, full))
    with pytest.raises(ValueError):
        a.frames[0, 0, 0, 0] = 1  # cached frames are read-only


def test_cache_false_always_decodes(bbb: Path) -> None:
    a = video.sample(bbb, cache=False)
    b = video.sample(bbb, cache=False)
    assert a is not b and np.array_equal(a.frames, b.frames) and a.record == b.record
    assert video.cache_info()["entries"] == 0


def test_cache_is_bounded_by_bytes(bbb: Path, city: Path) -> None:
    one = video.sample(bbb).frames.nbytes
    video.set_cache_limit(int(one * 1.5))
    video.sample(city)
    info = video.cache_info()
    assert info["entries"] == 1 and info["bytes"] <= info["limit_bytes"]
    video.set_cache_limit(0)
    video.sample(bbb)
    assert video.cache_info()["entries"] == 0


def test_changed_file_is_not_served_from_cache(tmp_path: Path, bbb: Path, city: Path) -> None:
    path = tmp_path / "clip.mp4"
    shutil.copy(bbb, path)
    first = video.sample(path)
    shutil.copy(city, path)  # same name, other content (and mtime)
    os.utime(path, ns=(1, 1))
    second = video.sample(path)
    assert second.record.file_id != first.record.file_id
    assert second.record.decoded_frames == 190


@pytest.mark.parametrize(
    ("clip", "window"),
    [
        ("cityCC0.mpg", (6.0, 7.6)),
        ("cityCC0.mpg", (2.0, 5.0)),
        ("vtest.avi", (30.0, 40.0)),
        ("vtest.avi", (70.0, 79.5)),
    ],
)
def test_seeking_gives_the_same_frames(videos_dir: Path, clip: str, window: tuple[float, float]) -> None:
    path = videos_dir / clip
    sought = video.sample(path, "video-thinker-32f", start_s=window[0], end_s=window[1], cache=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decoding, "SEEK_MIN_SKIP", 10**9)
        plain = video.sample(path, "video-thinker-32f", start_s=window[0], end_s=window[1], cache=False)
    assert sought.record == plain.record
    assert np.array_equal(sought.frames, plain.frames)
    assert sought.record.timestamps_s[0] >= window[0] - 1e-9
    assert sought.record.timestamps_s[-1] <= window[1] + 1e-9


def test_threaded_conversion_is_identical(vtest: Path) -> None:
    threaded = video.sample(vtest, cache=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sampling, "CONVERT_WORKERS", 0)
        inline = video.sample(vtest, cache=False)
    assert np.array_equal(threaded.frames, inline.frames)


@pytest.mark.parametrize("clip", ["bigbuckbunny.mp4", "cityCC0.mpg", "vtest.avi"])
def test_decoding_strategies_agree(videos_dir: Path, clip: str) -> None:
    """Keyframe segments from the kept packets (two decoders, or one), and the plain forward
    pass that re-reads the file, give the same frames and records."""
    path = videos_dir / clip
    segments = video.sample(path, "video-thinker-32f", cache=False)
    variants = {
        "one decoder": {"DECODE_WORKERS": 1},
        "one decoder, inline conversion": {"DECODE_WORKERS": 1, "CONVERT_WORKERS": 0},
        "forward pass": {"KEEP_PACKETS_MAX": 0},
    }
    variants["decoders converting for each other, two frames waiting at most"] = {
        "FRAME_BUDGET_BYTES": 2 * 3 * 1280 * 720
    }
    for name, settings in variants.items():
        with pytest.MonkeyPatch.context() as mp:
            for attr, value in settings.items():
                mp.setattr(
                    decoding if attr in ("DECODE_WORKERS", "FRAME_BUDGET_BYTES") else sampling, attr, value
                )
            other = video.sample(path, "video-thinker-32f", cache=False)
        assert other.record == segments.record, name
        assert np.array_equal(other.frames, segments.frames), name
    with video.one_thread():
        other = video.sample(path, "video-thinker-32f", cache=False)
    assert other.record == segments.record and np.array_equal(other.frames, segments.frames)


@pytest.mark.parametrize("clip", ["bigbuckbunny.mp4", "cityCC0.mpg", "vtest.avi"])
def test_one_thread_converts_in_the_calling_thread(
    videos_dir: Path, clip: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside video.one_thread every frame is converted by the caller, and no codec runs threads."""
    threads: set[str] = set()
    kinds: set[str] = set()
    resize, open_video = sampling.resize_rgb, decoding._probe.open_video

    def spy_resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
        threads.add(threading.current_thread().name)
        return resize(rgb, width, height)

    def spy_open(path: object) -> tuple[object, object]:
        container, stream = open_video(path)  # type: ignore[arg-type]
        kinds.add(stream.thread_type.name)  # type: ignore[attr-defined]
        return container, stream

    monkeypatch.setattr(sampling, "resize_rgb", spy_resize)
    monkeypatch.setattr(decoding._probe, "open_video", spy_open)
    with video.one_thread():
        video.sample(videos_dir / clip, cache=False)
    assert threads == {threading.current_thread().name}
    assert kinds == {"NONE"}
    kinds.clear()
    video.sample(videos_dir / clip, cache=False)  # outside the block: the codec's threads again
    assert kinds and "NONE" not in kinds


def test_a_failing_conversion_stops_both_decoders(vtest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A conversion that raises while two decoders share the work ends the call with that error
    (no decoder left waiting for frames), and the next call works."""
    resize = sampling.resize_rgb
    calls = 0

    def flaky(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise RuntimeError("conversion failed")
        return resize(rgb, width, height)

    monkeypatch.setattr(sampling, "resize_rgb", flaky)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(video.sample, vtest, cache=False)
        with pytest.raises(RuntimeError, match="conversion failed"):
            future.result(timeout=60)
    assert video.sample(vtest, cache=False).frames.shape[0] == 16


def test_concurrent_callers(bbb: Path, city: Path, vtest: Path) -> None:
    paths = [bbb, city, vtest] * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda p: video.sample(p, cache=False), paths))
    for p, pv in zip(paths, got, strict=True):
        ref = got[paths.index(p)]
        assert np.array_equal(pv.frames, ref.frames) and pv.record == ref.record


def test_fps_preset(vtest: Path) -> None:
    pv = video.sample(vtest, "fps-2")
    rec = pv.record
    assert len(rec.indices) == 158  # 79.5 s * 2 fps, rounded down to even
    assert rec.indices == video.linspace_indices(0, 794, 158)
    assert rec.sampled_fps == pytest.approx(158 / 79.5)
    assert rec.grid_thw == (79, 18, 26) and rec.video_tokens == 79 * 18 * 26 // 4


def test_probe_is_cached_by_identity(tmp_path: Path, bbb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vt_agent.video import probing

    path = tmp_path / "clip.mp4"
    shutil.copy(bbb, path)
    calls: list[Path] = []
    real = probing.decode_timeline

    def counting(p: Path) -> object:
        calls.append(p)
        return real(p)

    monkeypatch.setattr(probing, "decode_timeline", counting)
    first = video.probe(path)
    assert video.probe(path) is first and video.probe(str(path)) is first and len(calls) == 1
    os.utime(path, ns=(10**18, 10**18))  # touched: probed again
    again = video.probe(path)
    assert len(calls) == 2 and again.file_id != first.file_id
    assert again.model_dump(exclude={"file_id"}) == first.model_dump(exclude={"file_id"})
    video.probe(path, cache=False)
    assert len(calls) == 3


def test_file_id(tmp_path: Path, bbb: Path) -> None:
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    shutil.copy2(bbb, a)
    shutil.copy2(bbb, b)  # same bytes and mtime: same identity
    assert video.file_id(a) == video.file_id(b) == video.file_id(a)
    assert len(video.file_id(a)) == 20
    data = bytearray(a.read_bytes())
    data[-10] ^= 0xFF
    st = a.stat()
    a.write_bytes(bytes(data))
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # content changed at the end, mtime kept
    video.clear_cache()
    assert video.file_id(a) != video.file_id(b)


def test_concurrent_same_request_decodes_once(vtest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    calls: list[int] = []
    real = sampling.collect

    def slow_counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        time.sleep(0.2)  # keep the others waiting on the same key
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sampling, "collect", slow_counting)
    barrier = threading.Barrier(4)

    def ask() -> object:
        barrier.wait()
        return video.sample(vtest, start_s=10.0, end_s=30.0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda _: ask(), range(4)))
    assert len(calls) == 1
    assert all(g is got[0] for g in got)
    assert sampling._INFLIGHT == {}
