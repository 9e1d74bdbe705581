"""Triage memory stays bounded by one window: a short vs a long synthetic video, same settings.

Makes two low-resolution test videos with PyAV (a moving square, 160x120 at 10 fps): SHORT
(default 5 min) and LONG (default 30 min), then runs the triage core (``vt_agent.triage``, what
``vt-agent triage`` runs; ``--graph``: the ``graphs.triage`` graph) over each in its own
process with the scripted fake backend (the model is not what is measured) and the CLI's memory
settings (frame cache off, 60 s windows, 5 s overlap, concurrency 2). Prints, per video, the
windows, the peak of Python-tracked allocations (tracemalloc: numpy frame buffers included), the
peak RSS, and the long/short ratios. Bounded memory means ratios close to 1 although the long
video has ~5x more windows.

    .venv/bin/python bench/triage_memory.py [--short-min 2] [--long-min 12] [--keep DIR] [--graph]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_video(path: Path, minutes: float, fps: int = 10, size: tuple[int, int] = (160, 120)) -> float:
    """A synthetic clip (moving bright square on a changing background); returns seconds taken."""
    import av
    import numpy as np

    t0 = time.perf_counter()
    w, h = size
    n = int(minutes * 60 * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.gop_size = fps * 5  # a keyframe every 5 s: windows seek quickly
        frame_rgb = np.zeros((h, w, 3), np.uint8)
        for i in range(n):
            frame_rgb[:] = (i // fps) % 200  # background changes every second
            x = (i * 3) % (w - 20)
            frame_rgb[40:60, x : x + 20] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return time.perf_counter() - t0


def child(video: str, window: float, overlap: float, concurrency: int, use_graph: bool) -> None:
    """Run one triage and print its measurements as JSON (in a fresh process)."""
    import asyncio
    import collections
    import resource
    import tracemalloc

    from vt_agent.backends.fake_backend import FakeBackend
    from vt_agent.reasoner import VideoReasoner
    from vt_agent.triage import triage
    from vt_agent.video import cache_info, set_cache_limit

    set_cache_limit(0)  # what `vt-agent triage` does
    backend = FakeBackend()
    # FakeBackend records every request (frames included) for tests; keep only the last one here,
    # or the recording itself would grow with the video's length.
    backend.requests = collections.deque(maxlen=1)  # type: ignore[assignment]
    reasoner = VideoReasoner(backend)
    query = "a white square moves"
    if use_graph:
        from graphs import GraphContext
        from graphs.triage import graph

        inputs = {"video": video, "query": query, "window_s": window, "overlap_s": overlap}
        run = graph.ainvoke(inputs, context=GraphContext(reasoner=reasoner, concurrency=concurrency))
    else:
        run = triage(reasoner, video, query, window_s=window, overlap_s=overlap, concurrency=concurrency)
    tracemalloc.start()  # after the imports: only the run is measured
    t0 = time.perf_counter()
    out = asyncio.run(run)
    report = out["report"] if use_graph else out
    took = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "duration_s": report["info"]["duration_s"],
                "windows": len(report["windows"]),
                "errors": len(report["errors"]),
                "tracemalloc_peak_mb": peak / 2**20,
                "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "frame_cache": cache_info(),
                "seconds": took,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short-min", type=float, default=5.0)
    parser.add_argument("--long-min", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--overlap", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="directory to keep the generated videos in")
    parser.add_argument(
        "--graph", action="store_true", help="run the graphs.triage graph instead of the core"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.window, args.overlap, args.concurrency, args.graph)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        rows = {}
        for name, minutes in (("short", args.short_min), ("long", args.long_min)):
            video = where / f"synthetic_{minutes:g}min.mp4"
            made = make_video(video, minutes) if not video.exists() else 0.0
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(video), "--window", str(args.window),
                 "--overlap", str(args.overlap), "--concurrency", str(args.concurrency),
                 *(["--graph"] if args.graph else [])],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            rows[name]["generate_s"] = made
        print(
            f"{'video':6} {'length':>8} {'windows':>7} {'traced peak MB':>14} {'RSS peak MB':>11} {'run s':>6}"
        )
        for name, r in rows.items():
            print(
                f"{name:6} {r['duration_s']:8.1f} {r['windows']:7d} {r['tracemalloc_peak_mb']:14.2f} "
                f"{r['rss_peak_mb']:11.1f} {r['seconds']:6.1f}"
            )
        s, long_ = rows["short"], rows["long"]
        print(
            f"long/short: windows x{long_['windows'] / s['windows']:.1f}, "
            f"traced peak x{long_['tracemalloc_peak_mb'] / s['tracemalloc_peak_mb']:.2f}, "
            f"RSS peak x{long_['rss_peak_mb'] / s['rss_peak_mb']:.2f} (bounded: about 1)"
        )
        print(f"frame cache after the long run: {long_['frame_cache']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
