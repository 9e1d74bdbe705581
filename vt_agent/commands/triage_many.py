"""``vt-agent triage A.mp4 QUERY --video B.mp4 ... [--ray auto|ADDRESS]``: several recordings at once.

Each recording gets its own windows and its own report, as if triaged alone. Without ``--ray`` the
recordings run one after another here; with ``--ray`` the windows of all of them go through one
Ray Data pipeline (:func:`vt_agent.batch.triage_ray.triage_on_ray`). ``--json`` prints the list of
reports; ``--html OUT.html`` writes ``OUT-<recording>.html`` for each recording.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from vt_agent.errors import ConfigError

__all__ = ["html_paths", "run_many"]


def html_paths(html: Path, videos: list[str]) -> list[Path]:
    """One report page per recording beside ``html``: ``OUT-<video stem>.html`` (numbered when stems repeat)."""
    stems = [Path(v).stem for v in videos]
    out = []
    for n, stem in enumerate(stems):
        name = stem if stems.count(stem) == 1 else f"{stem}-{n + 1}"
        out.append(html.with_name(f"{html.stem}-{name}{html.suffix or '.html'}"))
    return out


def run_many(args: argparse.Namespace) -> int:
    from vt_agent.commands.backend_args import reasoner_settings
    from vt_agent.commands.triage import _summary
    from vt_agent.triage import check_windowing
    from vt_agent.video import cache_limit, check_path

    if args.resume is not None:
        raise ConfigError(
            "--resume keeps the windows of one recording run here; leave it out with --video or --ray "
            "(or triage each recording on its own with --resume)"
        )
    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be >= 1, got {args.concurrency}")
    check_windowing(args.window, args.overlap)
    preset, max_tokens = reasoner_settings(args)
    videos = [str(check_path(v)) for v in [args.video, *args.more_videos]]
    query = str(args.query)
    pages = (
        html_paths(args.html, videos)
        if args.html is not None and len(videos) > 1
        else [args.html] * len(videos)
    )
    with cache_limit(0):  # windows are never asked twice: keep no frames around
        reports = _triage_all(args, videos, query, preset, max_tokens)

    if args.html is not None:
        from vt_agent.report import write_triage_html

        for report, page in zip(reports, pages, strict=True):
            out = write_triage_html(report, page, thumbnails=not args.no_thumbnails)
            print(f"wrote {out}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        json.dump(reports if len(reports) > 1 else reports[0], sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print("\n\n".join(_summary(r) for r in reports))
    return 0


def _triage_all(
    args: argparse.Namespace, videos: list[str], query: str, preset: str, max_tokens: int
) -> list[dict[str, Any]]:
    """Each recording's report: on Ray with ``--ray``, else one after the other here."""
    from vt_agent.commands.backend_args import backend_from_args
    from vt_agent.commands.triage import run_triage, triage_options
    from vt_agent.reasoner import VideoReasoner

    if args.ray is not None:
        return _on_ray(args, videos, query)
    if not args.quiet:
        from vt_agent._lazy import require

        require("tqdm", "cli", "The triage progress bar (or pass --quiet)")
    backend, notices = backend_from_args(args)
    for notice in notices:
        print(notice, file=sys.stderr)
    reasoner = VideoReasoner(backend, preset=preset, max_tokens=max_tokens)

    async def each() -> list[dict[str, Any]]:
        try:
            return [
                await run_triage(v, query, reasoner=reasoner, preset=preset, **triage_options(args))
                for v in videos
            ]
        finally:
            await reasoner.aclose()

    return asyncio.run(each())


def _on_ray(args: argparse.Namespace, videos: list[str], query: str) -> list[dict[str, Any]]:
    from vt_agent.batch.runner import join_cluster
    from vt_agent.batch.triage_ray import triage_on_ray
    from vt_agent.commands.batch import engine_spec, ray_options
    from vt_agent.triage import plan_triage

    spec, notices = engine_spec(args)
    for notice in notices:
        print(notice, file=sys.stderr)
    run = ray_options(args, spec, args.concurrency)
    join_cluster(args.ray, run, None if args.quiet else sys.stderr)

    async def main() -> list[dict[str, Any]]:
        plans = [await plan_triage(v, query, window_s=args.window, overlap_s=args.overlap) for v in videos]
        total = sum(len(p.windows) for p in plans)
        seen, t0, shown = 0, time.monotonic(), 0.0

        def on_window(n: int, outcome: dict[str, Any]) -> None:
            nonlocal seen, shown
            seen += 1
            now = time.monotonic()
            if not args.quiet and (now - shown >= 2.0 or seen == total):
                shown = now
                rate = seen / max(now - t0, 1e-9)
                print(
                    f"triage: {seen}/{total} window(s) of {len(plans)} recording(s), {rate:.2f}/s",
                    file=sys.stderr,
                )

        return await triage_on_ray(plans, run, on_window)

    return asyncio.run(main())
