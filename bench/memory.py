"""Peak memory of preparing one very large video: is it bounded by one source frame?

    .venv/bin/python bench/memory.py [--size 8000] [--frames 16] [--against OTHER_CHECKOUT]

Writes a WxW MPEG-4 clip with PyAV in a temporary folder (tests/video_factory.py), then runs
``vt_agent.video.sample(clip, cache=False)`` in a fresh interpreter and reports the peak resident
memory above the interpreter's own after imports, in units of one decoded RGB source frame
(W * W * 3 bytes). With ``--against`` the same run uses another checkout's code (for instance the
code before a change, from ``git worktree add /tmp/before <commit>``) and the ratio of the two
peaks is printed. Figures are from one run; not a timed test.
Target: the increase stays within 5 source frames (the decoder's own reference frames, the
frame being converted and the one decoded meanwhile), whatever the frame size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_FRAMES = 5.0

# VmHWM (peak resident set of this process image) rather than ru_maxrss, which survives exec and
# so would start at the size of the parent that wrote the clip
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import av, numpy, PIL.Image
import vt_agent.video as video

def hwm_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no VmHWM in /proc/self/status (Linux only)")

base = hwm_kib()
t0 = time.perf_counter()
prepared = video.sample(sys.argv[2], cache=False)
seconds = time.perf_counter() - t0
peak = hwm_kib()
print(json.dumps({"base_kib": base, "peak_kib": peak, "seconds": seconds,
                  "shape": list(prepared.frames.shape)}))
"""


def make_clip(path: Path, size: int, frames: int) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from video_factory import _encode

    written: Path = _encode(
        path, list(range(frames)), Fraction(1, 10), rate=10, size=(size, size), gop=frames
    )
    return written


def measure(tree: Path, clip: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), str(clip)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"sampling with the code in {tree} failed:\n{out.stderr[-2000:]}")
    answer: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=8000, help="frame width and height (default 8000)")
    ap.add_argument("--frames", type=int, default=16, help="frames in the clip (default 16)")
    ap.add_argument("--against", type=Path, help="another checkout to compare with (e.g. before a change)")
    args = ap.parse_args(argv)
    frame_mib = args.size * args.size * 3 / 2**20
    with tempfile.TemporaryDirectory(prefix="vt-bench-memory-") as tmp:
        clip = make_clip(Path(tmp) / "big.avi", args.size, args.frames)
        print(
            f"clip: {args.size}x{args.size}, {args.frames} frames; one RGB source frame = {frame_mib:.0f} MiB"
        )
        runs = {"this checkout": measure(ROOT, clip)}
        if args.against is not None:
            runs[f"against {args.against}"] = measure(args.against.resolve(), clip)
    for name, r in runs.items():
        rise = (r["peak_kib"] - r["base_kib"]) / 1024
        print(
            f"  {name:<32} peak RSS {r['peak_kib'] / 1024:7.0f} MiB (+{rise:6.0f} MiB after imports = "
            f"{rise / frame_mib:4.1f} source frames), {r['seconds']:.1f} s"
        )
    mine = runs["this checkout"]
    rise_frames = (mine["peak_kib"] - mine["base_kib"]) / 1024 / frame_mib
    ok = rise_frames <= TARGET_FRAMES
    if args.against is not None:
        other = runs[f"against {args.against}"]
        print(f"  peak RSS ratio, other / this checkout: {other['peak_kib'] / mine['peak_kib']:.1f}x")
    print(
        f"  [{'ok' if ok else 'MISSED'}] memory above imports {rise_frames:.1f} source frames "
        f"(target <= {TARGET_FRAMES:g})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
