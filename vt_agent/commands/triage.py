"""``vt-agent triage VIDEO QUERY``: where in a long video does something happen?

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
import time
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vt_agent.commands.backend_args import (
    add_backend_arguments,
    add_reasoner_arguments,
    backend_from_args,
    reasoner_settings,
)
from vt_agent.commands.batch import add_prepare_arguments, add_ray_arguments, prepare_pool
from vt_agent.commands.optional_value import detach_values
from vt_agent.commands.paths import check_output_file
from vt_agent.errors import ConfigError
from vt_agent.result import mmss
from vt_agent.triage import DEFAULT_CONCURRENCY, DEFAULT_OVERLAP_S, DEFAULT_WINDOW_S, check_windowing

if TYPE_CHECKING:
    from vt_agent.triage import StreamingReasoner

__all__ = [
    "EPILOG",
    "RESUME_SUFFIXES",
    "default_resume_path",
    "detached_hint",
    "is_resume_file",
    "prepare_argv",
    "register",
    "rewrite_deprecated",
    "run",
    "run_triage",
    "triage_options",
]

RESUME_SUFFIXES = (".sqlite", ".sqlite3", ".db")
RESUME_RULE = "FILE is an existing SQLite file or a new name ending in .sqlite, .sqlite3 or .db"
_SQLITE_HEADER = b"SQLite format 3\x00"


EPILOG = """examples:
  vt-agent triage recording.mp4 "someone crosses the lawn" --html report.html
  vt-agent triage recording.mp4 "a car stops" --window 60 --overlap 5 --backend openai --base-url http://127.0.0.1:8000/v1
  vt-agent triage recording.mp4 "a car stops" --html report.html --resume   # progress in report.triage.sqlite
  vt-agent triage recording.mp4 --resume run.sqlite "a car stops"           # progress in run.sqlite
  vt-agent triage recording.mp4 "a dog runs" --backend fake --json -q       # scripted traces, no model
  vt-agent triage cam1.mp4 "a car stops" --video cam2.mp4 --video cam3.mp4 --html day.html --ray auto \\
      --backend vllm --model /models/Video-Thinker-7B --engine-actors 4 --gpus-per-actor 1
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "triage",
        help="find when something happens in a long video (windowed, ranked findings, HTML report)",
        description=(
            "Cut VIDEO into overlapping windows, ask the model in each window whether QUERY happens there and "
            "when, and merge the cited spans into ranked findings (global seconds). With --resume, each "
            "finished window is kept in a SQLite file, so an interrupted run continues where it stopped."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", metavar="VIDEO", help="path of a video file")
    parser.add_argument(
        "query",
        metavar="QUERY",
        help='what to look for, e.g. "someone crosses the lawn" (--query QUERY: deprecated spelling)',
    )
    parser.add_argument(
        "--video",
        dest="more_videos",
        action="append",
        default=[],
        metavar="PATH",
        help="another recording to triage for QUERY (repeatable): one report each (--html OUT.html: "
        "OUT-<name>.html each; --json: a list)",
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
    add_reasoner_arguments(parser, preset_help="sampling preset per window")
    add_backend_arguments(parser)
    parser.add_argument("--html", type=Path, default=None, metavar="OUT.html", help="write an HTML report")
    parser.add_argument("--no-thumbnails", action="store_true", help="HTML report without thumbnails")
    parser.add_argument("--json", action="store_true", help="print only the JSON report on stdout")
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="FILE",
        help="keep each finished window in a SQLite FILE and skip the windows it holds. "
        f"{RESUME_RULE}; any other word after --resume is read as VIDEO or QUERY and FILE takes its "
        "default: next to --html as OUT.triage.sqlite, else VIDEO-NAME.triage.sqlite in the working folder",
    )
    add_prepare_arguments(parser)
    add_ray_arguments(parser)
    parser.add_argument(
        "--quiet", "-q", "--no-progress", dest="quiet", action="store_true", help="no progress bar on stderr"
    )
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
    resume: Path | None = None,
    run_key_extra: dict[str, Any] | None = None,
    prepare_workers: int | None = None,
    prepare_pool: Literal["thread", "process"] = "thread",
) -> dict[str, Any]:
    """Plan, scan and report (:mod:`vt_agent.triage`), with a tqdm bar over the windows on stderr.

    ``resume``: keep the outcomes in that SQLite file and skip the windows it holds
    (:mod:`vt_agent.triage_resume`); ``run_key_extra`` completes its run key (preset, backend, model).
    ``prepare_workers``, ``prepare_pool``: the windows' preparation (:func:`vt_agent.triage.scan_windows`).
    """
    from vt_agent.busy import BusyMeter
    from vt_agent.triage import build_report, plan_triage, scan_windows

    plan = await plan_triage(video, query, window_s=window_s, overlap_s=overlap_s)
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan.windows), unit="window", desc="triage", file=sys.stderr, leave=True)
    outcomes: list[dict[str, Any]] = []
    meter, started = BusyMeter(), time.time()
    pool: dict[str, Any] = {"prepare_workers": prepare_workers, "prepare_pool": prepare_pool, "meter": meter}
    yes = 0
    store: Any = None
    try:
        if resume is not None:
            from vt_agent.triage_resume import TriageStore, resume_scan, run_key

            store = await TriageStore.open(resume, run_key(plan, **(run_key_extra or {})))

            def stored(n: int) -> None:
                if n:
                    print(
                        f"resuming from {resume}: {n} of {len(plan.windows)} window(s) already done",
                        file=sys.stderr,
                    )

            scan = resume_scan(
                reasoner, plan, store, concurrency=concurrency, preset=preset, on_stored=stored, **pool
            )
        else:
            scan = scan_windows(reasoner, plan, concurrency=concurrency, preset=preset, **pool)
        async with aclosing(scan):
            async for outcome in scan:
                outcomes.append(outcome)
                if bar is not None:
                    yes += outcome.get("answer") == "A"
                    bar.set_postfix(yes=yes)
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if store is not None:
            await store.aclose()
    if progress and meter.spans:  # which stage limited the scan (vt_agent.busy)
        print(f"triage: {meter.text(time.time() - started)}", file=sys.stderr)
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


def default_resume_path(video: str, html: Path | None) -> Path:
    """Where ``--resume`` without FILE keeps the progress: next to the HTML report, else here."""
    if html is not None:
        return html.with_name(f"{html.stem}.triage.sqlite")
    return Path(f"{Path(video).stem}.triage.sqlite")


def is_resume_file(value: str) -> bool:
    """Whether the word after ``--resume`` names its FILE (see :data:`RESUME_RULE`), not VIDEO or QUERY."""
    path = Path(value)
    if path.suffix.lower() in RESUME_SUFFIXES:
        return True
    try:
        with path.open("rb") as f:
            return f.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:  # missing, a folder, unreadable
        return False


def prepare_argv(argv: list[str], option_strings: list[str]) -> tuple[list[str], list[str]]:
    """``triage`` argv ready for argparse: ``--query`` rewritten, non-FILE words after ``--resume`` detached.

    Returns the argv and the detached words (positionals now, ``--resume`` taking its default).
    """
    return detach_values(rewrite_deprecated(argv), "--resume", is_resume_file, option_strings)


def detached_hint(extra: list[str], detached: list[str]) -> str:
    """Why ``extra`` words were left over once ``detached`` words were read as VIDEO or QUERY."""
    words = " ".join(repr(w) for w in detached)
    left = " ".join(repr(w) for w in extra)
    return (
        f"--resume {words}: not a FILE ({RESUME_RULE}), so it was taken as VIDEO or QUERY, which leaves "
        f"too many words (unrecognized: {left}); name the file e.g. run.sqlite, or write --resume alone "
        "after QUERY for the default file"
    )


def rewrite_deprecated(argv: list[str]) -> list[str]:
    """``triage ... --query Q ...`` as ``triage ... -- Q`` (Q the positional QUERY), with a notice on stderr.

    The deprecated spelling keeps working for one release; ``-q`` is ``--quiet`` now.
    """
    out: list[str] = []
    query: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        if arg == "--query" and i + 1 < len(argv):
            query, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--query="):
            query, i = arg.partition("=")[2], i + 1
            continue
        out.append(arg)
        i += 1
    if query is None:
        return argv
    print(
        "vt-agent triage: --query is deprecated and will be removed; give the query after VIDEO: "
        f'vt-agent triage VIDEO "{query}"',
        file=sys.stderr,
    )
    return [*out, query] if "--" in out else [*out, "--", query]


def triage_options(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`run_triage`'s windowing, concurrency, progress and preparation options from the command line."""
    return {
        "window_s": args.window,
        "overlap_s": args.overlap,
        "concurrency": args.concurrency,
        "progress": not args.quiet,
        "prepare_workers": args.prepare_workers,
        "prepare_pool": prepare_pool(args),
    }


def run(args: argparse.Namespace) -> int:
    from vt_agent._lazy import require
    from vt_agent.reasoner import VideoReasoner
    from vt_agent.video import cache_limit, check_path

    prepare_pool(args)  # refused with --ray
    if args.more_videos or args.ray is not None:  # several recordings, or windows on a Ray cluster
        from vt_agent.commands.triage_many import run_many

        if args.html is not None:
            check_output_file(args.html, "--html")
        return run_many(args)
    query = str(args.query)
    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be >= 1, got {args.concurrency}")
    check_windowing(args.window, args.overlap)  # before a model loads
    if args.html is not None:
        check_output_file(args.html, "--html")
    preset, max_tokens = reasoner_settings(args)
    if not args.quiet:
        require("tqdm", "cli", "The triage progress bar (or pass --quiet)")
    video = str(check_path(args.video))
    resume: Path | None = None
    if isinstance(args.resume, str) and not is_resume_file(args.resume):  # --resume=WORD
        raise ConfigError(
            f"--resume={args.resume}: {RESUME_RULE}; name the file e.g. run.sqlite, "
            "or give --resume alone for the default file"
        )
    if args.resume is not None:
        resume = default_resume_path(video, args.html) if args.resume is True else Path(args.resume)
        check_output_file(resume, "--resume")
    backend, notices = backend_from_args(args)
    for notice in notices:
        print(notice, file=sys.stderr)
    reasoner = VideoReasoner(backend, preset=preset, max_tokens=max_tokens)

    async def main() -> dict[str, Any]:
        try:
            return await run_triage(
                video,
                query,
                reasoner=reasoner,
                preset=preset,
                resume=resume,
                **triage_options(args),
                run_key_extra={
                    "preset": preset,
                    "backend": backend.name,
                    "model": backend.model,
                    "max_tokens": max_tokens,
                },
            )
        finally:
            await reasoner.aclose()

    try:
        with cache_limit(0):  # windows are never asked twice: keep no frames (memory of one window)
            report = asyncio.run(main())
    except (KeyboardInterrupt, Exception):
        if resume is not None:
            print(
                f"the finished windows are kept in {resume}: rerun with --resume {resume} to go on",
                file=sys.stderr,
            )
        raise
    if resume is not None:
        print(f"progress kept in {resume} (delete it to start over)", file=sys.stderr)
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
