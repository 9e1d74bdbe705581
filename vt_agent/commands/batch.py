"""``vt-agent batch JOBS.jsonl --out results.jsonl [--ray auto|ADDRESS]``: many questions, one row each.

A thin adapter over :func:`vt_agent.batch.run_batch` (docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vt_agent.commands.backend_args import (
    add_backend_arguments,
    add_reasoner_arguments,
    backend_spec_from_args,
    positive_int,
    reasoner_settings,
)
from vt_agent.commands.paths import check_input_file, check_output_file
from vt_agent.errors import ConfigError

if TYPE_CHECKING:
    from vt_agent.batch import EngineSpec
    from vt_agent.batch.ray_run import RayOptions

__all__ = [
    "add_prepare_arguments",
    "add_ray_arguments",
    "engine_spec",
    "prepare_pool",
    "ray_options",
    "register",
]

EPILOG = """jobs file: one JSON object a line,
  {"id": "q1", "video": "clips/a.mp4", "question": "What happens first?", "options": ["A man enters", "A dog barks"]}
  {"id": "q2", "video": "cam1.mp4", "question": "Does a car park?", "window": [60, 120]}
relative video paths are read under --videos (default: the jobs file's folder).

examples:
  vt-agent batch jobs.jsonl --out results.jsonl --backend fake                 # scripted, no model
  vt-agent batch jobs.jsonl --out results.jsonl --backend openai --base-url http://127.0.0.1:8000/v1 --concurrency 16
  vt-agent batch jobs.jsonl --out results.jsonl --ray auto --backend vllm --model /models/Video-Thinker-7B \\
      --engine-actors 4 --gpus-per-actor 1                                     # 4 vLLM engines, one GPU each
  RAY_ADDRESS=head:6379 vt-agent batch jobs.jsonl --out results.jsonl --ray auto --backend vllm \\
      --model /models/Video-Thinker-7B --engine-actors 8 --gpus-per-actor 2    # a cluster, TP 2 per engine
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"write a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ray --engine-actors --gpus-per-actor --cpus-per-actor`` (batch, eval run)."""
    parser.add_argument(
        "--ray",
        default=None,
        metavar="auto|ADDRESS",
        help="run on Ray: 'auto' joins RAY_ADDRESS or a `ray start` cluster on this machine, else starts "
        "a local instance; or a cluster address (HOST:6379, ray://HOST:10001). Needs the [ray] extra",
    )
    parser.add_argument(
        "--engine-actors", type=positive_int, default=1, metavar="N", help="--ray: engine actors (default: 1)"
    )
    parser.add_argument(
        "--gpus-per-actor",
        type=_positive_float,
        default=0.0,
        metavar="K",
        help="--ray: GPUs per engine actor (vLLM: its tensor-parallel size) (default: 0)",
    )
    parser.add_argument(
        "--cpus-per-actor",
        type=_positive_float,
        default=None,
        metavar="C",
        help="--ray: CPUs reserved per engine actor (default: 1 for transformers and vllm, else 0)",
    )


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    """``--prepare-workers --prepare-pool`` (batch, eval run): the preparation stage's size and pool."""
    parser.add_argument(
        "--prepare-workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="frame preparations at once (default: the cores here; with --ray, the cluster's free CPUs)",
    )
    parser.add_argument(
        "--prepare-pool",
        choices=("thread", "process"),
        default=None,
        help="prepare frames in threads (default) or in processes (no GIL between them: more cores used "
        "on a big machine, at a start-up cost of about a second per process); not with --ray",
    )


def prepare_pool(args: argparse.Namespace) -> Literal["thread", "process"]:
    """``--prepare-pool`` (default thread); refused with ``--ray``, whose preparation runs in Ray tasks."""
    pool: Literal["thread", "process"] | None = args.prepare_pool
    if pool is not None and args.ray is not None:
        raise ConfigError(
            f"--prepare-pool {pool} does not apply with --ray: Ray runs each preparation in its own task; "
            "drop --prepare-pool (or --ray to prepare on this machine)"
        )
    return pool or "thread"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="answer a jobs file of (video, question) jobs, one JSON line each (resumable; Ray optional)",
        description=(
            "Answer every job of JOBS (JSONL) and append one line per job to --out: its id and the Result "
            "fields, or its id and an error (the run goes on; exit code 0). Rerunning with the same --out "
            "skips the jobs already there. Without --ray the jobs run here, frames of upcoming jobs prepared "
            "while the engine answers; with --ray the same two stages run as a Ray Data pipeline: preparation "
            "on every node, the engine in --engine-actors actors holding one backend each."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("jobs", metavar="JOBS", type=Path, help="jobs file (.jsonl)")
    parser.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="results JSONL (appended; resumes)"
    )
    parser.add_argument(
        "--videos", type=Path, default=None, metavar="DIR", help="folder of relative video paths"
    )
    add_ray_arguments(parser)
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        metavar="N",
        help="jobs each engine answers at once (default: 4)",
    )
    add_prepare_arguments(parser)
    parser.add_argument(
        "--retry-failed", action="store_true", help="run again the jobs of --out that have an error"
    )
    add_reasoner_arguments(parser)
    add_backend_arguments(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines (the summary stays)")
    parser.set_defaults(func=run)


def engine_spec(args: argparse.Namespace) -> tuple[EngineSpec, list[str]]:
    """The engine the backend and reasoner flags name, and its notices; the Ray flags checked.

    With ``--ray`` the GPU and hub checks are left to the actors' machines; a vLLM engine of
    ``--gpus-per-actor K`` gets tensor-parallel size K, a transformers engine on CPUs
    ``--cpus-per-actor`` torch threads (1 by default), so that actors do not oversubscribe a node.
    """
    from vt_agent.batch import EngineSpec

    preset, max_tokens = reasoner_settings(args)
    name, options, notices = backend_spec_from_args(args, local_checks=args.ray is None)
    if args.ray is None:
        for flag, default in (("engine_actors", 1), ("gpus_per_actor", 0.0), ("cpus_per_actor", None)):
            if getattr(args, flag) != default:
                notices.append(f"NOTICE: --{flag.replace('_', '-')} is used with --ray only; ignored")
    elif name == "vllm" and args.gpus_per_actor > 1 and "tensor_parallel_size" not in options:
        if args.gpus_per_actor != int(args.gpus_per_actor):
            raise ConfigError(
                f"--gpus-per-actor {args.gpus_per_actor:g}: a vLLM engine takes a whole number of GPUs"
            )
        options["tensor_parallel_size"] = int(args.gpus_per_actor)
    threads = None
    if name == "transformers" and args.ray is not None and not args.gpus_per_actor:
        threads = max(1, int(args.cpus_per_actor or 1))
    spec = EngineSpec(name, options, preset=preset, max_tokens=max_tokens, torch_threads=threads)
    return spec, notices


def ray_options(args: argparse.Namespace, spec: EngineSpec, concurrency: int) -> RayOptions:
    """The cluster settings of the Ray flags (``--prepare-workers`` when the command has it)."""
    from vt_agent.batch.ray_run import RayOptions

    return RayOptions(
        spec,
        actors=args.engine_actors,
        gpus_per_actor=args.gpus_per_actor,
        cpus_per_actor=args.cpus_per_actor,
        concurrency=concurrency,
        prepare_workers=getattr(args, "prepare_workers", None),
    )


def run(args: argparse.Namespace) -> int:
    from vt_agent.batch import run_batch

    check_input_file(args.jobs, "JOBS", "a jobs file (.jsonl), one job object a line")
    check_output_file(args.out, "--out", parents=True)
    if args.out.resolve() == args.jobs.resolve():
        raise ConfigError(f"--out {args.out} is the jobs file; write the results to another file")
    if args.videos is not None and not args.videos.is_dir():
        raise ConfigError(f"--videos {args.videos}: no such folder")
    pool = prepare_pool(args)
    spec, notices = engine_spec(args)
    for notice in notices:
        print(notice, file=sys.stderr)
    summary = run_batch(
        args.jobs,
        args.out,
        spec,
        ray=args.ray,
        videos_dir=args.videos,
        actors=args.engine_actors,
        gpus_per_actor=args.gpus_per_actor,
        cpus_per_actor=args.cpus_per_actor,
        concurrency=args.concurrency,
        prepare_workers=args.prepare_workers,
        prepare_pool=pool,
        retry_failed=args.retry_failed,
        log=None if args.quiet else sys.stderr,
    )
    print(f"{summary.line()} -> {args.out}")
    return 0
