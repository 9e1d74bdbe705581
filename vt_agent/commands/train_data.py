"""``vt-agent train build`` and ``vt-agent train curate``: the data half of the training recipe.

``vt_agent.commands.train`` calls :func:`add_data_parsers` with its sub-command action. Each
parser sets ``func(args) -> exit code``. The API key is read from the environment variable
named by ``--llm-api-key-env`` (default ``OPENAI_API_KEY``; unset: no key is sent).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

from vt_agent.errors import ConfigError

__all__ = ["add_data_parsers", "run_build", "run_curate"]

BUILD_EXAMPLE = """\
examples:
  vllm serve Qwen/Qwen2.5-72B-Instruct --port 8001     # or any OpenAI-compatible endpoint
  vt-agent train build --source youcook2 --data youcookii_annotations_trainval.json \\
      --videos videos/ --llm-base-url http://127.0.0.1:8001/v1 --llm-model Qwen/Qwen2.5-72B-Instruct \\
      --out youcook2.jsonl
"""

CURATE_EXAMPLE = """\
examples:
  vllm serve Qwen/Qwen2.5-VL-7B-Instruct --port 8002   # the judge (answers from captions only)
  vt-agent train curate youcook2.jsonl --llm-base-url http://127.0.0.1:8001/v1 \\
      --judge-base-url http://127.0.0.1:8002/v1 --out kept.jsonl --log decisions.jsonl
"""


def _llm_args(parser: argparse.ArgumentParser, prefix: str, what: str, required: bool) -> None:
    parser.add_argument(
        f"--{prefix}-base-url",
        required=required,
        metavar="URL",
        help=f"OpenAI-compatible API root of the {what}, e.g. http://127.0.0.1:8000/v1",
    )
    parser.add_argument(
        f"--{prefix}-model",
        default=None,
        metavar="NAME",
        help=f"model name of the {what} (default: the server's only model)",
    )
    parser.add_argument(
        f"--{prefix}-api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key (default: %(default)s; unset: no key)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="seconds per LLM request (default 300)"
    )
    parser.add_argument(
        "--retries", type=int, default=3, metavar="N", help="retries of transient LLM errors (default 3)"
    )
    parser.add_argument(
        "--workers", type=int, default=4, metavar="N", help="LLM requests at once (default 4)"
    )
    parser.add_argument(
        "--temperature", type=float, default=0.7, help="trace writer's temperature (default 0.7)"
    )
    parser.add_argument(
        "--max-tokens", type=int, default=2048, metavar="N", help="trace writer's max tokens (default 2048)"
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        metavar="N",
        help="LLM replies tried per sample until one is valid (default 3)",
    )
    parser.add_argument("--seed", type=int, default=None, help="request seed (servers that support it)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")


def add_data_parsers(subparsers: Any) -> None:
    """Add ``build`` and ``curate`` to the ``vt-agent train`` sub-commands."""
    from vt_agent.training.builders import SOURCES

    build = subparsers.add_parser(
        "build",
        help="build training records from a caption- or QA-labelled source with a text LLM",
        description=(
            "Read an annotation file in its official shape, drop videos that do not decode or have fewer "
            "than 64 decoded frames, and let a text LLM (any OpenAI-compatible endpoint) write a "
            "multiple-choice question (caption-labelled sources) and a grounded trace. Writes one "
            "training record per line; every drop and rejected reply goes to the build log."
        ),
        epilog=BUILD_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("--source", required=True, choices=SOURCES, help="the annotation format")
    build.add_argument("--data", required=True, type=Path, metavar="FILE", help="the annotation file")
    build.add_argument(
        "--videos", required=True, type=Path, metavar="DIR", help="folder holding <video id>.<ext> files"
    )
    build.add_argument(
        "--out", required=True, type=Path, metavar="RECORDS.jsonl", help="records written here"
    )
    build.add_argument(
        "--log",
        type=Path,
        default=None,
        metavar="FILE",
        help="build log (default: OUT with .build-log.jsonl)",
    )
    build.add_argument(
        "--descriptions",
        type=Path,
        default=None,
        metavar="FILE",
        help='QA sources: JSON {video_id: "text" or [{start_s, end_s, caption}]} given to the trace writer',
    )
    build.add_argument(
        "--min-frames", type=int, default=64, metavar="N", help="drop videos with fewer decoded frames (64)"
    )
    build.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N samples")
    build.add_argument(
        "--questions-per-video",
        type=int,
        default=1,
        metavar="N",
        help=(
            "caption-labelled sources: N distinct questions per video, each its own record with id "
            "<sample id>#q<k> when N > 1 (default 1)"
        ),
    )
    build.add_argument(
        "--resume",
        action="store_true",
        help="append to OUT and its log, skipping records whose id OUT already holds (after an interruption)",
    )
    _llm_args(build, "llm", "text LLM that writes questions and traces", True)
    _common(build)
    build.set_defaults(func=run_build)

    curate = subparsers.add_parser(
        "curate",
        help="hindsight curation: keep records whose own <time>/<caption> content gives the right answer",
        description=(
            "Give a judge model only the <time>/<caption> content of each record's trace with the question; "
            "keep the record if it answers right, else let the trace writer rewrite the trace and judge again "
            "(up to --max-regenerations times). Every decision goes to the decision log."
        ),
        epilog=CURATE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    curate.add_argument(
        "records", type=Path, metavar="RECORDS", help="records JSONL (from `vt-agent train build`)"
    )
    curate.add_argument("--out", required=True, type=Path, metavar="KEPT.jsonl", help="kept records")
    curate.add_argument(
        "--log",
        type=Path,
        default=None,
        metavar="FILE",
        help="decision log (default: OUT with .decisions.jsonl)",
    )
    curate.add_argument(
        "--dropped", type=Path, default=None, metavar="FILE", help="also write the dropped records here"
    )
    curate.add_argument(
        "--max-regenerations", type=int, default=3, metavar="N", help="trace rewrites per record (default 3)"
    )
    curate.add_argument(
        "--no-regenerate", action="store_true", help="drop at the first wrong answer (no writer LLM)"
    )
    _llm_args(curate, "llm", "trace writer (regeneration)", False)
    _llm_args(curate, "judge", "judge (default: the --llm-* server)", False)
    curate.add_argument(
        "--judge-backend",
        default=None,
        metavar="NAME",
        help=(
            "judge on a vt-agent backend instead (transformers, vllm, openai, fake), --judge-model as its model; "
            "records are then judged one at a time"
        ),
    )
    _common(curate)
    curate.set_defaults(func=run_curate)


def _api_key(var: str | None) -> str | None:
    if not var:
        return None
    value = os.environ.get(var)
    return value or None


def _llm(base_url: str, model: str | None, key_var: str | None, args: argparse.Namespace, **kw: Any) -> Any:
    from vt_agent.training.llm import ChatLLM, LLMConfig

    config = LLMConfig(
        base_url=base_url,
        model=model,
        api_key=_api_key(key_var),
        timeout_s=args.timeout,
        max_retries=args.retries,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        **kw,
    )
    return ChatLLM(config)


def _progress(args: argparse.Namespace, what: str) -> Any:
    if args.quiet:
        return None

    def report(done: int, total: int) -> None:
        print(f"{what}: {done}/{total}", file=sys.stderr, flush=True)

    return report


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl") + suffix)


def _check_outputs(*paths: tuple[str, Path | None]) -> None:
    """Fail before any LLM call when an output path is a folder."""
    for option, path in paths:
        if path is not None and path.is_dir():
            raise ConfigError(
                f"{option}: {path} is a folder; give a file name, e.g. {path / 'records.jsonl'}"
            )


def run_build(args: argparse.Namespace) -> int:
    from vt_agent.jsonl import cut_partial_line
    from vt_agent.training.builders import DatasetBuilder, load_source
    from vt_agent.training.schema import JsonlWriter, read_jsonl

    _check_outputs(("--out", args.out), ("--log", args.log))
    if args.questions_per_video < 1:
        raise ConfigError(f"--questions-per-video must be at least 1, got {args.questions_per_video}")
    samples = load_source(args.source, args.data, descriptions=args.descriptions)
    if args.limit is not None:
        samples = samples[: max(0, args.limit)]
    log_path = args.log or _with_suffix(args.out, ".build-log.jsonl")
    mode: Literal["w", "a"] = "w"
    done: dict[str, dict[str, Any]] = {}
    if args.resume and args.out.exists():
        try:  # a record cut off by a run stopped mid-write: its sample is built again
            cut_partial_line(args.out)
        except ValueError as exc:
            raise ConfigError(f"--out {exc}") from None
        done = {str(obj.get("id")): obj for _, obj in read_jsonl(args.out)}
        mode = "a"
    with _llm(args.llm_base_url, args.llm_model, args.llm_api_key_env, args) as llm:
        llm.check()
        builder = DatasetBuilder(
            llm,
            args.videos,
            min_frames=args.min_frames,
            max_attempts=args.max_attempts,
            workers=args.workers,
            seed=args.seed,
            questions_per_video=args.questions_per_video,
        )
        skipped = sum(builder.done_count(s, done) for s in samples)
        with JsonlWriter(args.out, mode) as out, JsonlWriter(log_path, mode) as log:
            stats = builder.build(samples, out, log, done=done, progress=_progress(args, "build"))
    summary = {**stats.as_dict(), "skipped_done": skipped, "out": str(args.out), "log": str(log_path)}
    print(json.dumps(summary))
    return 0


def run_curate(args: argparse.Namespace) -> int:
    from vt_agent.training.builders import TraceWriter
    from vt_agent.training.curation import BackendJudge, Curator, LLMJudge
    from vt_agent.training.schema import JsonlWriter, read_records

    _check_outputs(("--out", args.out), ("--log", args.log), ("--dropped", args.dropped))
    records = read_records(args.records)
    log_path = args.log or _with_suffix(args.out, ".decisions.jsonl")
    if not args.no_regenerate and not args.llm_base_url:
        raise ConfigError("regeneration needs the trace writer: give --llm-base-url (or --no-regenerate)")
    closers: list[Any] = []
    try:
        writer = None
        if not args.no_regenerate:
            llm = _llm(args.llm_base_url, args.llm_model, args.llm_api_key_env, args)
            closers.append(llm)
            llm.check()
            writer = TraceWriter(llm, max_attempts=args.max_attempts, seed=args.seed)
        judge: Any
        if args.judge_backend:
            from vt_agent.backends import load_backend

            options = {"model": args.judge_model} if args.judge_model else {}
            judge = BackendJudge(load_backend(args.judge_backend, **options))
        else:
            base = args.judge_base_url or args.llm_base_url
            if not base:
                raise ConfigError("give the judge: --judge-base-url (or --llm-base-url, or --judge-backend)")
            model = args.judge_model if args.judge_base_url else (args.judge_model or args.llm_model)
            judge_llm = _llm(base, model, args.judge_api_key_env, args)
            closers.append(judge_llm)
            judge_llm.check()
            judge = LLMJudge(judge_llm)
        # An in-process backend judges one record at a time; HTTP judges take --workers requests at once.
        workers = 1 if args.judge_backend else args.workers
        curator = Curator(judge, writer, max_regenerations=args.max_regenerations, workers=workers)
        with JsonlWriter(args.out) as out, JsonlWriter(log_path) as log:
            if args.dropped is not None:
                with JsonlWriter(args.dropped) as dropped:
                    stats = curator.curate(
                        records, out, log, dropped=dropped, progress=_progress(args, "curate")
                    )
            else:
                stats = curator.curate(records, out, log, progress=_progress(args, "curate"))
    finally:
        for c in closers:
            c.close()
    print(json.dumps({**stats.as_dict(), "out": str(args.out), "log": str(log_path)}))
    return 0
