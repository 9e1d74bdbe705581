"""One question over several videos: a plan, what each video was asked alone, and an answer that
cites videos and spans.

    python examples/multi_video.py [VIDEO ...] [--question TEXT] [--option TEXT ...]
                                   [--mode per_video|joint] [--backend fake|transformers|vllm|openai] [--model ...]

With the default ``fake`` backend the traces are scripted (hand-written text, not a model's answer),
and the answer line says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphs import GraphContext
from graphs.multi_video import graph
from vt_agent.backends import load_backend
from vt_agent.errors import VTAgentError
from vt_agent.reasoner import VideoReasoner

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"


def main(
    videos: list[str],
    question: str,
    options: list[str],
    mode: str | None,
    backend_name: str,
    model: str | None,
) -> None:
    backend = load_backend(backend_name, **({"model": model} if model else {}))
    context = GraphContext(reasoner=VideoReasoner(backend), concurrency=2)
    inputs = {"videos": videos, "question": question, "options": options, "mode": mode}
    out: dict = {}
    for kind, chunk in graph.stream(inputs, context=context, stream_mode=["custom", "values"]):
        if kind == "custom" and chunk["type"] in ("video_done", "video_error"):  # progress per video
            print(f"[{chunk['type']}] video {chunk['index'] + 1} of {chunk['total']}", file=sys.stderr)
        elif kind == "values":
            out = chunk
    partial = " (PARTIAL: a video failed or gave no clear evidence)" if out["partial"] else ""
    scripted = " (scripted: hand-written traces)" if backend.scripted else ""
    print(f"answer: {out['answer']} (by {out['synthesis']}, {out['mode']}){scripted}{partial}")
    print(f"  {out['answer_text']}")
    print(f"plan: {out['kind']}: {out['plan']['why']}")
    if out["plan"]["sub"]["question"] and out["mode"] == "per_video":
        print(f"  each video was asked alone: {out['plan']['sub']['question']}")
    for entry in out["per_video"]:
        print(
            f"  video {entry['index'] + 1} {Path(entry['path']).name}: {entry['answer_text']} -> {entry['used']}"
        )
    for c in out["citations"]:
        print(f"  cites video {c['video'] + 1} {c['start']}-{c['end']}: {c['caption']}")
    for e in out["errors"]:
        print(f"  video {e['index'] + 1} failed: {e['message']}")
    for w in out["warnings"]:
        print(f"  note: {w}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "videos", nargs="*", default=[str(CLIPS / "bigbuckbunny.mp4"), str(CLIPS / "cityCC0.mpg")]
    )
    parser.add_argument("--question", default="Which video was filmed at night?")
    parser.add_argument("--option", action="append", dest="options", default=None)
    parser.add_argument("--mode", choices=["per_video", "joint"], default=None)
    parser.add_argument("--backend", default="fake")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    options = args.options if args.options is not None else ["Video 1", "Video 2", "None of them"]
    try:
        main(args.videos, args.question, options, args.mode, args.backend, args.model)
    except VTAgentError as exc:  # a bad backend or question: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
