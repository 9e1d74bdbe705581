"""``vt-agent reason VIDEO QUESTION [-o "A. ..."]...``: ask Video-Thinker about a video.

More videos: ``--video PATH`` (repeatable; they follow VIDEO as "Video 2", "Video 3", ...).
The trace streams live on stderr (progress, each segment with its time span); then a summary on
stdout, or with ``--json`` only the Result JSON on stdout. Settings: explicit flags, then the
``VT_AGENT_*`` variables (docs/settings.md), then ``auto`` (see :mod:`vt_agent.config`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
from pathlib import Path
from typing import Any

from vt_agent.commands.backend_args import (
    add_backend_arguments,
    add_reasoner_arguments,
    backend_from_args,
    reasoner_settings,
)
from vt_agent.commands.paths import check_output_dir
from vt_agent.errors import ConfigError
from vt_agent.result import Result

__all__ = [
    "EPILOG",
    "register",
    "run",
    "save_thumbnails",
]

EPILOG = """examples:
  vt-agent reason clip.mp4 "What happens first?" -o "A man enters" -o "A dog barks" --model /models/Video-Thinker-7B
  vt-agent reason clip.mp4 "What happens first?" --backend openai --base-url http://127.0.0.1:8000/v1
  vt-agent reason clip.mp4 "What happens first?" --backend fake --json     # scripted traces, no model
  vt-agent reason a.mp4 "Which clip is at night?" --video b.mp4 -o "The first" -o "The second"
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reason",
        help="answer a question about a video, with the model's grounded reasoning",
        description=(
            "Answer QUESTION about VIDEO with Video-Thinker. The reasoning streams on stderr as it is written "
            "(each cited span with its time); the summary (or, with --json, the Result JSON) goes to stdout. "
            "Backend and model: flags, then the VT_AGENT_* variable each flag names, then auto (a server if configured, else a GPU with the real weights, else the "
            "tiny random model, whose output is noise)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", metavar="VIDEO", help="path of a video file")
    parser.add_argument("question", metavar="QUESTION", help="the question")
    parser.add_argument(
        "--video",
        dest="more_videos",
        action="append",
        default=[],
        metavar="PATH",
        help="another video (repeatable): multi-video question, VIDEO is 'Video 1'",
    )
    parser.add_argument(
        "-o",
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="TEXT",
        help='an answer option (repeatable), "A. text" or plain text (letters are added)',
    )
    add_reasoner_arguments(parser)
    add_backend_arguments(parser)
    parser.add_argument(
        "--thumbnails",
        type=int,
        default=None,
        metavar="N",
        help="evidence JPEGs at the first N spans (default 0, or 4 with --save-thumbnails)",
    )
    parser.add_argument(
        "--save-thumbnails", type=Path, default=None, metavar="DIR", help="write the JPEGs to DIR"
    )
    parser.add_argument("--start", type=float, default=None, metavar="S", help="window start, seconds")
    parser.add_argument("--end", type=float, default=None, metavar="S", help="window end, seconds")
    parser.add_argument("--json", action="store_true", help="print only the Result JSON on stdout")
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no live view on stderr (notices still shown)"
    )
    parser.set_defaults(func=run)


def _window(args: argparse.Namespace, video: str) -> tuple[float, float] | None:
    """``--start``/``--end`` as a window (an open end is the end of VIDEO), checked by the core's rule."""
    from vt_agent.spans import check_window

    if args.start is None and args.end is None:
        return None
    start = 0.0 if args.start is None else args.start
    end = args.end
    if end is None:
        from vt_agent.video import probe

        end = probe(video).duration_s
        if start >= end:
            raise ConfigError(f"--start ({start:g}) is not before the end of the video ({end:g} s)")
    return check_window((start, end), names=("--start", "--end"))


def save_thumbnails(result: Result, out_dir: Path) -> list[Path]:
    """Write the Result's thumbnails as ``thumb-<segment>-<time>.jpg`` files in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in result.thumbnails:
        p = out_dir / f"thumb-v{t.video + 1}-s{t.segment}-{t.time_s:.2f}s.jpg"
        p.write_bytes(base64.b64decode(t.jpeg_base64))
        paths.append(p)
    return paths


def _check_options(options: list[str]) -> None:
    if len(options) == 1:
        raise ConfigError(
            f"-o/--option given once ({options[0]!r}): a multiple-choice question needs at least two options "
            '(-o "A man enters" -o "A dog barks"); leave -o out for an open question'
        )


def run(args: argparse.Namespace) -> int:
    from vt_agent.console import LiveView, summary
    from vt_agent.reasoner import VideoReasoner
    from vt_agent.video import check_path

    _check_options(args.options)
    videos = [str(check_path(v)) for v in [args.video, *args.more_videos]]
    thumbnails = args.thumbnails
    if args.save_thumbnails is not None:
        check_output_dir(args.save_thumbnails, "--save-thumbnails")
        if thumbnails is None:
            thumbnails = 4
    preset, max_tokens = reasoner_settings(args)
    window = _window(args, videos[0])
    color = sys.stderr.isatty() and "NO_COLOR" not in os.environ
    view = LiveView(sys.stderr, color=color, multi=len(videos) > 1)
    backend, notices = backend_from_args(args)
    for notice in notices:
        view.notice(notice)
    reasoner = VideoReasoner(backend, preset=preset, max_tokens=max_tokens, thumbnails=thumbnails or 0)

    async def main() -> Result:
        from vt_agent.runs import drain

        try:
            stream = reasoner.astream(videos, args.question, args.options or None, window=window)
            return await drain(stream, None if args.quiet else view.handle)
        finally:
            await reasoner.aclose()

    result = asyncio.run(main())
    if args.save_thumbnails is not None:
        written = save_thumbnails(result, args.save_thumbnails)
        if written:
            names = ", ".join(p.name for p in written)
            print(
                f"--save-thumbnails: wrote {len(written)} JPEG(s) to {args.save_thumbnails}: {names}",
                file=sys.stderr,
            )
        else:
            print(
                f"--save-thumbnails: nothing written to {args.save_thumbnails}: the answer cited no time span",
                file=sys.stderr,
            )
    if args.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        if result.source != "model" or any("tiny" in n.lower() for n in notices):
            for notice in notices:
                view.notice(notice)  # again after the trace, where it cannot be missed
        print(summary(result, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ))
    return 0
