"""One question over several videos: a trace per video, then a synthesis with per-video citations.

    python examples/multi_video.py [VIDEO ...] [--backend fake|transformers|vllm|openai] [--model ...]

With the default ``fake`` backend the traces are scripted (hand-written text, not a model's answer),
and the answer line says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from graphs import GraphContext
from graphs.multi_video import graph
from vt_agent.backends import load_backend
from vt_agent.reasoner import VideoReasoner

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"


def main(videos: list[str], backend_name: str, model: str | None) -> None:
    backend = load_backend(backend_name, **({"model": model} if model else {}))
    context = GraphContext(reasoner=VideoReasoner(backend), concurrency=2)
    out = graph.invoke(
        {
            "videos": videos,
            "question": "Which clip was filmed at night?",
            "options": ["The first clip", "The second clip", "Neither"],
        },
        context=context,
    )
    scripted = " (scripted: hand-written traces)" if backend.scripted else ""
    print(f"answer: {out['answer']} (by {out['synthesis']}){scripted}")
    for entry in sorted(out["per_video"], key=lambda e: e["index"]):
        print(f"  video {entry['index'] + 1} {Path(entry['path']).name}: {entry['answer']}")
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
    parser.add_argument("--backend", default="fake")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    main(args.videos, args.backend, args.model)
