"""The real transformers engine end to end, on a tiny RANDOM-weight Qwen2.5-VL (output is noise).

    python examples/reason_transformers_tiny.py

Builds (once, cached under ~/.cache/vt-agent) a tiny checkpoint with Video-Thinker's architecture
and prompt format but random weights: the answer is noise, the pipeline is real (frames, prompt,
generation, streaming, parsing). For real answers pass ``model="/path/to/Video-Thinker-7B"`` on a GPU.
"""

from __future__ import annotations

from pathlib import Path

from vt_agent.backends import load_backend
from vt_agent.reasoner import VideoReasoner
from vt_agent.tiny import NOTICE, build_tiny_checkpoint

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos" / "bigbuckbunny.mp4"

print("NOTE:", NOTICE)
backend = load_backend("transformers", model=str(build_tiny_checkpoint()), device="cpu", dtype="float32")
reasoner = VideoReasoner(backend, max_tokens=24)
result = reasoner.reason(CLIP, "What animal is the main character?", ["A fox", "A rabbit", "A bear"])
print(f"generated {result.timings.generated_chars} chars in {result.timings.total_s:.2f} s "
      f"(finish: {result.finish_reason}); frames: {len(result.videos[0].indices)}")  # fmt: skip
print("format problems:", "; ".join(result.format.problems) or "none")
print("answer:", result.answer, *(f"({note})" for note in result.provenance()))
