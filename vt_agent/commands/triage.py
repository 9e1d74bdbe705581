"""``vt-agent triage VIDEO --query ...``: where in a long video does something happen?

Runs :mod:`vt_agent.triage`: windows of ``--window`` seconds overlapping by ``--overlap``,
one model call per window (``--concurrency`` at once), findings merged and ranked, in global
seconds. A progress bar over the windows goes to stderr; ``--json`` prints only JSON on stdout;
``--html`` writes a self-contained report page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vt_agent.commands.backend_args import add_backend_arguments, backend_from_args
from vt_agent.commands.paths import check_output_file
from vt_agent.errors import ConfigError
from vt_agent.result import mmss
from vt_agent.triage import DEFAULT_CONCURRENCY, DEFAULT_OVERLAP_S, DEFAULT_WINDOW_S, check_windowing

if TYPE_CHECKING:
    from vt_agent.triage import StreamingReasoner


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "triage",
        help="find when something happens in a long video (windowed, ranked findings, HTML report)",
        description=(
            "Cut VIDEO into overlapping windows, ask the model in each window whether QUERY happens there and "
            "when, and merge the cited spans into ranked findings (global seconds)."
        ),
    )
    parser.add_argument("video", metavar="VIDEO", help="path of a video file")
    parser.add_argument(
        "--query", "-q", required=True, help='what to look for, e.g. "someone crosses the lawn"'
    )
    parser.add_argument(
        "--window",
        type=float,
        default=DEFAULT_WINDOW_S,
        metavar="S",
        help=f"window length, s (default {DEFAULT_WINDOW_S:g})",
    )
    parser.add_argument(
        "--overlap",
        type=float,
        default=DEFAULT_OVERLAP_S,
        metavar="S",
        help=f"window overlap, s (default {DEFAULT_OVERLAP_S:g})",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"windows asked at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument("--preset", default=None, help="sampling preset per window (default: the reasoner's)")
    add_backend_arguments(parser)
    parser.add_argument("--html", type=Path, default=None, metavar="OUT.html", help="write an HTML report")
    parser.add_argument("--no-thumbnails", action="store_true", help="HTML report without thumbnails")
    parser.add_argument("--json", action="store_true", help="print only the JSON report on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)


async def run_triage(
    video: str,
    query: str,
    *,
    reasoner: StreamingReasoner,
    window_s: float,
    overlap_s: float,
    concurrency: int,
    preset: str | None,
    progress: bool,
) -> dict[str, Any]:
    """Plan, scan and report (:mod:`vt_agent.triage`), with a tqdm bar over the windows on stderr."""
    from vt_agent.triage import build_report, plan_triage, scan_windows

    plan = await plan_triage(video, query, window_s=window_s, overlap_s=overlap_s)
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan.windows), unit="window", desc="triage", file=sys.stderr, leave=True)
    outcomes: list[dict[str, Any]] = []
    yes = 0
    try:
        async for outcome in scan_windows(reasoner, plan, concurrency=concurrency, preset=preset):
            outcomes.append(outcome)
            if bar is not None:
                yes += outcome.get("answer") == "A"
                bar.set_postfix(yes=yes)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return build_report(plan, outcomes)


def _summary(report: dict[str, Any]) -> str:
    info = report["info"]
    lines = [
        f"{report['video']}: {mmss(info['duration_s'])}, {len(report['windows'])} window(s) of "
        f"{report['window_s']:g} s (overlap {report['overlap_s']:g} s)",
        f"query: {report['query']}",
    ]
    if report.get("scripted"):
        lines.append("(scripted fake backend: hand-written traces, not a model's answers)")
    elif report.get("source") == "random weights":
        lines.append(
            "(random weights: a random-weight model gave these answers; they are noise, not findings)"
        )
    fallback = [w["index"] + 1 for w in report["windows"] if w.get("answer_fallback")]
    if fallback:
        lines.append(
            f"no <answer> tag in window(s) {', '.join(map(str, fallback))}: "
            "their letter was read by the fallback rules"
        )
    if not report["findings"]:
        lines.append("no window answered yes")
    for f in report["findings"]:
        caption = next((s["caption"] for s in f["segments"] if s.get("caption")), "")
        windows = ",".join(str(w + 1) for w in f["windows"])
        lines.append(
            f"#{f['rank']}  {f['start']}-{f['end']}  confidence {f['confidence']:.2f}  windows {windows}  {caption}"
        )
    for e in report["errors"]:
        lines.append(f"window {e['window'] + 1} failed: {e['message']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from vt_agent._lazy import require
    from vt_agent.reasoner import VideoReasoner
    from vt_agent.video import check_path, set_cache_limit

    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be >= 1, got {args.concurrency}")
    check_windowing(args.window, args.overlap)  # before a model loads
    if args.html is not None:
        check_output_file(args.html, "--html")
    if args.preset is not None:
        from vt_agent.video import get_preset

        get_preset(args.preset)  # an unknown preset fails here, not once per window
    if not args.no_progress:
        require("tqdm", "cli", "The triage progress bar (or pass --no-progress)")
    video = str(check_path(args.video))
    set_cache_limit(0)  # windows are never asked twice: keep no frames around (memory of one window)
    backend, notices = backend_from_args(args)
    for notice in notices:
        print(notice, file=sys.stderr)
    reasoner = VideoReasoner(backend)

    async def main() -> dict[str, Any]:
        try:
            return await run_triage(
                video,
                args.query,
                reasoner=reasoner,
                window_s=args.window,
                overlap_s=args.overlap,
                concurrency=args.concurrency,
                preset=args.preset,
                progress=not args.no_progress,
            )
        finally:
            await reasoner.aclose()

    report = asyncio.run(main())
    if args.html is not None:
        from vt_agent.report import write_triage_html

        out = write_triage_html(report, args.html, thumbnails=not args.no_thumbnails)
        print(f"wrote {out}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(_summary(report))
    return 0
