"""``vt-agent inspect VIDEO``: what the model would see of a video (probe + sampling, no model)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from vt_agent.errors import ConfigError
from vt_agent.video.presets import DEFAULT_PRESET

__all__ = [
    "EPILOG",
    "inspect_data",
    "register",
    "run",
]

EPILOG = """examples:
  vt-agent inspect clip.mp4                                  # timeline and the 16 sampled frames
  vt-agent inspect clip.mp4 --preset video-thinker-32f --start 10 --end 40 --json
  vt-agent inspect clip.mp4 --contact-sheet sheet.jpg
  vt-agent inspect --list-presets                            # no video needed
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show a video's real timeline and the frames, sizes and tokens the model would get",
        description=(
            "Probe VIDEO (container, codec, header claims, frames that really decode) and sample it with a "
            "preset exactly as Video-Thinker was trained. Times are seconds from the first decoded frame."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "video",
        metavar="VIDEO",
        nargs="?",
        default=None,
        help="path of a video file (not with --list-presets)",
    )
    parser.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        help="sampling preset (default: %(default)s); see --list-presets",
    )
    parser.add_argument("--start", type=float, default=None, metavar="S", help="window start, seconds")
    parser.add_argument("--end", type=float, default=None, metavar="E", help="window end, seconds")
    parser.add_argument("--json", action="store_true", help="print only JSON on stdout")
    parser.add_argument(
        "--contact-sheet",
        type=Path,
        default=None,
        metavar="OUT.jpg",
        help="save a labelled grid of the sampled frames",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="decode every frame to count them, even on long videos (slower)",
    )
    parser.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    parser.set_defaults(func=run)


def inspect_data(
    video_path: str, preset: str, start: float | None, end: float | None, verify: bool = False
) -> tuple[dict[str, Any], Any]:
    """The JSON-ready report and the PreparedVideo."""
    from vt_agent.video import get_preset, probe, sample

    pre = get_preset(preset)
    prepared = sample(video_path, pre, start_s=start, end_s=end)
    # what sampling learnt (every frame decoded on short clips); --verify decodes all of a long one
    info = probe(video_path, decode_all=verify)
    rec = prepared.record
    data: dict[str, Any] = info.model_dump()
    data.update(
        {
            "preset": rec.preset,
            "preset_settings": pre.model_dump(),
            "window": list(rec.window) if rec.window is not None else None,
            "frames": [
                {"index": i, "timestamp_s": round(t, 6)}
                for i, t in zip(rec.indices, rec.timestamps_s, strict=True)
            ],
            "num_frames": len(rec.indices),
            "resized": list(rec.resized),
            "grid_thw": list(rec.grid_thw),
            "video_tokens": rec.video_tokens,
            "sampled_fps": rec.sampled_fps,
            "second_per_grid_ts": rec.second_per_grid_ts,
            "cache_key": rec.cache_key,
        }
    )
    return data, prepared


def _table(data: dict[str, Any]) -> str:
    from vt_agent.video import label_time

    lines = [
        f"video         {data['path']}",
        f"container     {data['container']}  codec {data['codec']}  {data['width']}x{data['height']}"
        f"  audio {'yes' if data['has_audio'] else 'no'}",
        f"timeline      {data['decoded_frames']} frames over {data['duration_s']:.3f} s"
        f" = {data['fps']:.4g} fps, start offset {data['start_offset_s']:.3f} s"
        + ("" if data["frames_verified"] else " (frames counted from packets; --verify decodes all)"),
        f"header says   {data['header_frames'] or '?'} frames at {data['header_fps']:.4g} fps",
    ]
    if data.get("creation_time"):
        lines.append(f"recorded      {data['creation_time']} (from the {data['creation_time_from']})")
    lines += [f"warning       {w}" for w in data["warnings"]]
    win = data["window"]
    lines += [
        f"preset        {data['preset']}" + (f"  window {win[0]:g}-{win[1]:g} s" if win else ""),
        f"sampled       {data['num_frames']} frames, resized {data['resized'][0]}x{data['resized'][1]},"
        f" grid {tuple(data['grid_thw'])}, {data['video_tokens']} video tokens",
        f"timing        sampled_fps {data['sampled_fps']:.4f}, second_per_grid_ts {data['second_per_grid_ts']:.4f}",
        "",
        "  #  index  time (s)   MM:SS.s",
    ]
    for k, f in enumerate(data["frames"]):
        lines.append(f"{k:3d}  {f['index']:5d}  {f['timestamp_s']:8.3f}   {label_time(f['timestamp_s'])}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from vt_agent.video import PRESETS, contact_sheet

    if args.list_presets:
        for name, p in PRESETS.items():
            print(f"{name:20s} {p.description}")
        return 0
    if args.video is None:
        raise ConfigError("give the VIDEO to inspect (or --list-presets to list the sampling presets)")
    sheet_path: Path | None = args.contact_sheet
    if sheet_path is not None and sheet_path.suffix.lower() not in {".jpg", ".jpeg"}:
        raise ConfigError(f"--contact-sheet must name a .jpg file, got {sheet_path}")
    data, prepared = inspect_data(args.video, args.preset, args.start, args.end, args.verify)
    if sheet_path is not None:
        if not sheet_path.parent.is_dir():
            raise ConfigError(f"--contact-sheet: folder {sheet_path.parent} does not exist")
        contact_sheet(prepared).save(sheet_path, format="JPEG", quality=85)
        data["contact_sheet"] = str(sheet_path)
    text = json.dumps(data, indent=2) if args.json else _table(data)
    if sheet_path is not None and not args.json:
        text += f"\n\ncontact sheet: {sheet_path}"
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
