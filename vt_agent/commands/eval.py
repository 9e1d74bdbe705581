"""``vt-agent eval``: run benchmarks, score prediction files, write reports.

Subcommands: ``run`` and ``merge`` (see :mod:`vt_agent.commands.eval_run`), ``score`` (a
prediction file in a benchmark's official format) and ``report`` (a ``results.jsonl`` of
``eval run``, as Markdown and/or HTML). See docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vt_agent.commands.paths import check_input_file, check_output_file

__all__ = [
    "EVAL_EPILOG",
    "REPORT_EPILOG",
    "SCORE_EPILOG",
    "register",
    "report_command",
    "score_command",
]

SCORE_EPILOG = """examples:
  vt-agent eval score activitynet-qa --predictions pred_val_example.json --answers val_a.json
  vt-agent eval score video-holmes --predictions Results/Results-Video-Thinker.json \\
      --answers Benchmark/test_Video-Holmes.json --json
  vt-agent eval score vrbench --predictions mcq_results.jsonl --answers VRBench_eval.jsonl
  vt-agent eval score lvbench --predictions answers.json --answers video_info.meta.jsonl
"""

REPORT_EPILOG = """examples:
  vt-agent eval report holmes.jsonl --benchmark video-holmes --md holmes.md --html holmes.html
  vt-agent eval report anet.jsonl --benchmark activitynet-qa --json
  vt-agent eval report yc2.jsonl --benchmark youcook2 --no-meteor   # BLEU/ROUGE-L/CIDEr without METEOR
"""


EVAL_EPILOG = """examples:
  vt-agent eval run video-holmes --data test_Video-Holmes.json --videos videos --out holmes.jsonl
  vt-agent eval report holmes.jsonl --benchmark video-holmes --md holmes.md
  vt-agent eval score vrbench --predictions mcq_results.jsonl --answers VRBench_eval.jsonl
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="run benchmarks, score prediction files, write evaluation reports",
        description="Evaluate a backend on the paper's benchmarks with their official scorers.",
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    from vt_agent.commands.eval_run import add_merge_parser, add_run_parser

    add_run_parser(sub)
    add_merge_parser(sub)

    score = sub.add_parser(
        "score",
        help="score a prediction file in a benchmark's official format",
        description=(
            "Score PREDICTIONS against ANSWERS in the benchmark's official file formats (activitynet-qa, "
            "video-holmes, vrbench, lvbench) with the official matching rules. Prints per-type and overall "
            "accuracy as fractions and k/N; with --json stdout holds only the JSON."
        ),
        epilog=SCORE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument(
        "benchmark", metavar="BENCHMARK", help="activitynet-qa, video-holmes, vrbench or lvbench"
    )
    score.add_argument("--predictions", required=True, type=Path, metavar="FILE", help="the prediction file")
    score.add_argument("--answers", required=True, type=Path, metavar="FILE", help="the ground-truth file")
    score.add_argument("--json", action="store_true", help="print only JSON on stdout")
    score.set_defaults(func=score_command)

    report = sub.add_parser(
        "report",
        help="score a results.jsonl of 'eval run' and write a Markdown/HTML report",
        description=(
            "Score the rows of RESULTS (written by 'vt-agent eval run') for --benchmark: accuracy k/N per "
            "question type, grounding mIoU/R@0.3/R@0.5 where gold spans exist, METEOR/ROUGE-L/BLEU/CIDEr for "
            "captions (per video, then averaged, as lmms-eval's youcook2_val), and the published Video-Thinker "
            "numbers side by side where they are comparable. "
            "Prints the Markdown report on stdout unless --md/--html/--json say otherwise."
        ),
        epilog=REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "results", metavar="RESULTS.jsonl", type=Path, help="results file of 'vt-agent eval run'"
    )
    report.add_argument("--benchmark", required=True, help="benchmark name as given to 'eval run'")
    report.add_argument(
        "--md", type=Path, default=None, metavar="OUT.md", help="write the Markdown report here"
    )
    report.add_argument(
        "--html", type=Path, default=None, metavar="OUT.html", help="write the HTML report here"
    )
    report.add_argument("--json", action="store_true", help="print the scores as JSON on stdout (only JSON)")
    report.add_argument("--title", default=None, help="report title")
    report.add_argument(
        "--rescore",
        choices=("official", "video-thinker"),
        default=None,
        help="extract answers again from raw_output with this protocol's rule instead of using the stored prediction",
    )
    report.add_argument(
        "--no-meteor", action="store_true", help="captions: skip METEOR (the slow Java scorer)"
    )
    report.add_argument(
        "--caption-tokenizer",
        choices=("ptb", "simple"),
        default="ptb",
        help="captions: COCO's PTB tokenizer (Java, default) or a simple Python one",
    )
    report.add_argument(
        "--caption-average",
        choices=("video", "corpus"),
        default="video",
        help="captions: score each video's captions then average over videos (lmms-eval youcook2_val, "
        "default), or score all captions at once",
    )
    report.set_defaults(func=report_command)

    def _help(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(func=_help)


def _text_lines(data: dict[str, Any]) -> list[str]:
    lines = [f"{data['benchmark']}: {data['source']}"]
    lines += [f"  WARNING: {w}" for w in data.get("warnings", [])]
    acc = data.get("accuracy")
    if acc:
        width = max([len(n) for n in acc["per_type"]] + [len("question type")])
        lines.append(f"  {'question type':<{width}}  {'correct/N':>13}  {'accuracy':>8}  {'%':>6}")
        for name, a in acc["per_type"].items():
            k_n = f"{a['correct']}/{a['total']}"
            if not a["total"]:
                lines.append(f"  {name:<{width}}  {k_n:>13}  {'-':>8}  {'-':>6}")
                continue
            lines.append(f"  {name:<{width}}  {k_n:>13}  {a['accuracy']:>8.4f}  {a['percent']:>6.2f}")
        o = acc["overall"]
        k_n = f"{o['correct']}/{o['total']}"
        lines.append(f"  {'Overall':<{width}}  {k_n:>13}  {o['accuracy']:>8.4f}  {o['percent']:>6.2f}")
    for key, value in data.get("figures", {}).items():
        lines.append(f"  {key.replace('_', ' ')}: {value:.4f}")
    g = data.get("grounding")
    if g:
        lines.append(
            f"  grounding over {g['n_spans']} gold spans: mIoU {g['miou']:.4f}, R@0.3 {g['r@0.3']:.4f}, "
            f"R@0.5 {g['r@0.5']:.4f}"
        )
    c = data.get("captions")
    if c:
        meteor = "n/a" if c["meteor"] is None else f"{c['meteor']:.4f}"
        pooled = f"mean over {c['n_videos']} videos" if c["average"] == "video" else "corpus"
        lines.append(
            f"  captions ({c['n']}, {pooled}, {c['tokenizer']} tokens): METEOR {meteor}, "
            f"ROUGE-L {c['rouge_l']:.4f}, BLEU-1 {c['bleu_1']:.4f}, BLEU-4 {c['bleu_4']:.4f}, "
            f"CIDEr {c['cider']:.4f}"
        )
    counts = data.get("counts") or {}
    if counts:
        lines.append("  counts: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
    for note in data.get("notes", []):
        lines.append(f"  note: {note}")
    return lines


def score_command(args: argparse.Namespace) -> int:
    from vt_agent.evaluation.scoring import score_predictions

    for path, option in ((args.predictions, "--predictions"), (args.answers, "--answers")):
        if Path(path).is_dir():
            check_input_file(Path(path), option, "a file")
    result = score_predictions(args.benchmark, args.predictions, args.answers)
    data = result.as_dict()
    if args.json:
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print("\n".join(_text_lines(data)))
    return 0


def report_command(args: argparse.Namespace) -> int:
    from vt_agent.evaluation.eval_report import render_markdown, write_report
    from vt_agent.evaluation.scoring import score_results

    check_input_file(Path(args.results), "RESULTS", "the results .jsonl written by 'vt-agent eval run'")
    for path, option in ((args.md, "--md"), (args.html, "--html")):
        if path is not None:
            check_output_file(Path(path), option, parents=True)
    result = score_results(
        args.benchmark,
        args.results,
        protocol=args.rescore,
        meteor=not args.no_meteor,
        caption_tokenizer=args.caption_tokenizer,
        caption_average=args.caption_average,
    )
    written = write_report(result, md=args.md, html_path=args.html, title=args.title)
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif not written:
        sys.stdout.write(render_markdown(result, args.title))
    else:
        print("\n".join(_text_lines(result.as_dict())))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0
