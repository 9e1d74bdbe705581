"""Published Video-Thinker accuracies (docs/protocol.md, Published numbers: %, 16 frames, the paper's protocol).

Only Video-Holmes, CG-Bench-Reasoning and VRBench are public benchmarks a user can rerun. The
other columns are the authors' own held-out multiple-choice conversions of ActivityNet, STAR,
ScaleLong, YouCook2 and LVBench (generated questions, unreleased split): they cannot be
reproduced from the public data, so reports never compare a run against them.
"""

from __future__ import annotations

__all__ = [
    "COMPARABLE",
    "IN_DOMAIN",
    "IN_DOMAIN_NOTE",
    "MODELS",
    "PUBLISHED",
    "PUBLISHED_GROUNDING",
    "VIDEO_HOLMES_N",
    "published_for",
]

MODELS = ("Qwen2.5-VL-7B-Instruct", "Video-R1-7B", "Video-Thinker-SFT-7B", "Video-Thinker-7B")

# column -> model -> accuracy (%)
PUBLISHED: dict[str, dict[str, float]] = {
    "Video-Holmes": dict(zip(MODELS, (34.02, 38.54, 31.52, 43.22), strict=True)),
    "CG-Bench-Reasoning": dict(zip(MODELS, (27.10, 27.81, 24.95, 33.25), strict=True)),
    "VRBench": dict(zip(MODELS, (63.42, 69.25, 62.40, 80.69), strict=True)),
    "ActivityNet": dict(zip(MODELS, (70.96, 76.00, 70.80, 78.72), strict=True)),
    "STAR": dict(zip(MODELS, (69.25, 67.76, 64.18, 70.66), strict=True)),
    "ScaleLong": dict(zip(MODELS, (40.06, 47.32, 43.22, 49.53), strict=True)),
    "YouCook2": dict(zip(MODELS, (63.74, 65.65, 56.11, 73.66), strict=True)),
    "LVBench": dict(zip(MODELS, (33.33, 34.68, 35.69, 37.04), strict=True)),
}

# grounding on the authors' 1k in-domain samples (not public): mIoU, R@0.3, R@0.5 (%)
PUBLISHED_GROUNDING: dict[str, dict[str, float]] = {
    "Video-Thinker-7B": {"miou": 48.22, "r@0.3": 79.29, "r@0.5": 51.49},
    "Qwen2.5-VL-7B-Instruct": {"miou": 27.47, "r@0.3": 39.52, "r@0.5": 23.71},
}

VIDEO_HOLMES_N = 1837

# benchmark (canonical name) -> published column a run can be compared with
COMPARABLE: dict[str, str] = {
    "video-holmes": "Video-Holmes",
    "cg-bench": "CG-Bench-Reasoning",
    "vrbench": "VRBench",
}
# benchmark -> the paper's in-domain column of the same name (not comparable)
IN_DOMAIN: dict[str, str] = {
    "activitynet-qa": "ActivityNet",
    "star": "STAR",
    "scalelong": "ScaleLong",
    "youcook2": "YouCook2",
    "lvbench": "LVBench",
}

IN_DOMAIN_NOTE = (
    "The paper's in-domain columns (ActivityNet, STAR, ScaleLong, YouCook2, LVBench) are the "
    "authors' own held-out multiple-choice conversions of those datasets (generated questions, "
    "unreleased split). They cannot be reproduced from the public benchmarks, so this report does "
    "not compare a run against them."
)


def published_for(benchmark: str) -> dict[str, float] | None:
    """Published accuracies (%) per model for a comparable benchmark, else None."""
    column = COMPARABLE.get(benchmark)
    return dict(PUBLISHED[column]) if column else None
