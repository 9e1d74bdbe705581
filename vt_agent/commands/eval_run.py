"""``vt-agent eval run`` and ``vt-agent eval merge`` (added to the ``eval`` command's subparsers).

``vt-agent eval run BENCHMARK --data FILE --videos DIR --out results.jsonl`` runs every question
through the model (backend flags as for ``vt-agent reason``), appending one JSON line per
question; rerunning resumes. ``vt-agent eval merge A.jsonl B.jsonl --out all.jsonl`` joins shard
outputs. See docs/evaluation.md, "Running a benchmark".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from vt_agent.commands.backend_args import (
    add_backend_arguments,
    add_reasoner_arguments,
    backend_from_args,
    reasoner_settings,
)
from vt_agent.commands.batch import add_prepare_arguments, add_ray_arguments, prepare_pool
from vt_agent.commands.paths import check_input_file, check_output_file
from vt_agent.errors import ConfigError
from vt_agent.video.presets import DEFAULT_PRESET

__all__ = ["add_merge_parser", "add_run_parser", "merge_command", "run_command"]

RUN_EPILOG = """examples:
  vt-agent eval run video-holmes --data test_Video-Holmes.json --videos Benchmark/videos --out holmes.jsonl \\
      --backend vllm --model /models/Video-Thinker-7B
  vt-agent eval run vrbench --data VRBench_eval.jsonl --videos VRBench --out vr.jsonl --shard 0/4
  vt-agent eval run vrbench --data VRBench_eval.jsonl --videos VRBench --out vr.jsonl --ray auto \\
      --backend vllm --model /models/Video-Thinker-7B --engine-actors 8 --gpus-per-actor 1
  vt-agent eval run activitynet-qa --data test_q.json --videos anet --protocol official --out anet.jsonl
  vt-agent eval run jsonl --data my.jsonl --videos clips --backend fake --out try.jsonl   # scripted, no model
  vt-agent eval merge vr-0.jsonl vr-1.jsonl vr-2.jsonl vr-3.jsonl --out vr.jsonl
"""


def _benchmark_names() -> list[str]:
    from vt_agent.evaluation.loaders import benchmark_names

    return benchmark_names()


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``run`` to the ``eval`` command's subparsers (sets ``func``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run a benchmark through the model (resumable, shardable)",
        description=(
            "Run every question of BENCHMARK (from --data, videos under --videos) through the model and append "
            "one JSON line per question to --out. Rerunning with the same --out skips what is done. "
            "Progress on stderr; a summary line on stdout. Backend flags and VT_AGENT_* settings as for "
            "`vt-agent reason`."
        ),
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "benchmark", metavar="BENCHMARK", choices=_benchmark_names(), help=", ".join(_benchmark_names())
    )
    parser.add_argument(
        "--data", required=True, type=Path, metavar="FILE", help="the benchmark's question file"
    )
    parser.add_argument(
        "--videos", required=True, type=Path, metavar="DIR", help="directory holding its videos"
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="results JSONL (appended; resumes)"
    )
    parser.add_argument(
        "--protocol",
        choices=("video-thinker", "official"),
        default="video-thinker",
        help="the paper's prompt and answer ladder (multiple choice only), or the benchmark's own "
        "(default: %(default)s)",
    )
    parser.add_argument("--shard", default=None, metavar="i/N", help="run only shard i of N (0-based)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N questions")
    parser.add_argument(
        "--concurrency", type=int, default=1, metavar="N", help="questions in flight at once (default: 1)"
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the rows of --out with an error or a missing video",
    )
    add_prepare_arguments(parser)
    add_ray_arguments(parser)
    parser.add_argument(
        "--subcategories",
        default=None,
        metavar="A,B",
        help="cg-bench-reasoning: exact sub_category names to keep, or 'all' (default: names ending in 'Cognition')",
    )
    parser.add_argument(
        "--answers", type=Path, default=None, metavar="FILE", help="activitynet-qa: the *_a.json file"
    )
    parser.add_argument(
        "--level", choices=("segment", "video"), default=None, help="youcook2: one item per step or per video"
    )
    add_reasoner_arguments(parser, preset_help=f"frame sampling preset: {DEFAULT_PRESET}, -32f or -64f")
    add_backend_arguments(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_command)
    return parser


def add_merge_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``merge`` to the ``eval`` command's subparsers (sets ``func``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "merge",
        help="merge shard outputs of `eval run` into one results file",
        description="Merge results files (shards, resumed runs) into one, one row per question key.",
        epilog="examples:\n  vt-agent eval merge vr-0.jsonl vr-1.jsonl vr-2.jsonl vr-3.jsonl --out vr.jsonl\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="FILE", help="results JSONL files")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="merged results JSONL")
    parser.set_defaults(func=merge_command)
    return parser


def _loader_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.subcategories is not None:
        if args.benchmark != "cg-bench-reasoning":
            from vt_agent.errors import ConfigError

            raise ConfigError("--subcategories only applies to cg-bench-reasoning")
        sub = args.subcategories.strip()
        opts["subcategories"] = "all" if sub == "all" else [s.strip() for s in sub.split(",") if s.strip()]
    if args.answers is not None:
        opts["answers"] = args.answers
    if args.level is not None:
        opts["level"] = args.level
    return opts


def run_command(args: argparse.Namespace) -> int:
    from vt_agent.evaluation.loaders import load_benchmark
    from vt_agent.evaluation.runner import arun_benchmark, check_protocol, parse_shard
    from vt_agent.reasoner import VideoReasoner

    shard = parse_shard(args.shard) if args.shard else None
    pool = prepare_pool(args)
    preset, max_tokens = reasoner_settings(args)
    if Path(args.data).is_dir():
        check_input_file(Path(args.data), "--data", f"the {args.benchmark} question file (.json or .jsonl)")
    check_output_file(Path(args.out), "--out", parents=True)
    loaded = load_benchmark(args.benchmark, args.data, args.videos, **_loader_options(args))
    print(loaded.summary(), file=sys.stderr)
    for problem in loaded.problems[:20]:
        print(f"  malformed: {problem}", file=sys.stderr)
    if len(loaded.problems) > 20:
        print(f"  ... and {len(loaded.problems) - 20} more malformed record(s)", file=sys.stderr)
    if not loaded.all_items and loaded.problems:
        raise ConfigError(
            f"--data {args.data}: none of its {len(loaded.problems)} record(s) reads as {args.benchmark}; "
            "is it another benchmark's file? Check the BENCHMARK name (docs/evaluation.md lists each "
            "benchmark's file shape)"
        )
    check_protocol(loaded.name, loaded.all_items, args.protocol)  # refuse before loading any model
    ray = None
    if args.ray is not None:  # the engines are built in the actors; this one only names the rows
        from vt_agent.batch.runner import join_cluster
        from vt_agent.commands.batch import engine_spec, ray_options

        spec, notices = engine_spec(args)
        backend = spec.build_backend()
        ray = ray_options(args, spec, args.concurrency)
    else:
        backend, notices = backend_from_args(args)
    for notice in notices:
        print(notice, file=sys.stderr)
    reasoner = VideoReasoner(backend, preset=preset, max_tokens=max_tokens)
    if ray is not None:
        join_cluster(args.ray, ray, sys.stderr)

    async def main() -> Any:
        try:
            return await arun_benchmark(
                loaded,
                reasoner,
                args.out,
                protocol=args.protocol,
                shard=shard,
                limit=args.limit,
                concurrency=args.concurrency,
                progress=not args.quiet,
                retry_failed=args.retry_failed,
                prepare_workers=args.prepare_workers,
                prepare_pool=pool,
                ray=ray,
            )
        finally:
            await reasoner.aclose()

    summary = asyncio.run(main())
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    print(summary.line())
    return 0


def merge_command(args: argparse.Namespace) -> int:
    from vt_agent.evaluation.records import write_results
    from vt_agent.evaluation.runner import merge_results

    inputs = [Path(p) for p in args.inputs]
    for p in inputs:
        check_input_file(p, "merge", "a results .jsonl file written by 'vt-agent eval run'")
    check_output_file(Path(args.out), "--out", parents=True)
    if any(p.resolve() == Path(args.out).resolve() for p in inputs):
        raise ConfigError(f"--out {args.out} is also an input: write the merge to a new file")
    report = merge_results(inputs)
    write_results(args.out, report.results)
    for conflict in report.conflicts:
        print(f"conflict: {conflict}", file=sys.stderr)
    print(
        f"merged {len(inputs)} file(s): {len(report.results)} row(s) -> {args.out} "
        f"({report.duplicates} duplicate(s) dropped, {len(report.conflicts)} conflict(s))"
    )
    return 0
