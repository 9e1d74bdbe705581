"""Accuracy (k/N, per question type), temporal grounding (docs/protocol.md, Grounding and captions) and caption metrics.

Accuracy is kept as integers: ``Accuracy(794, 1837)`` prints ``794/1837 = 0.4322 (43.22 %)``.

Grounding (docs/protocol.md, Grounding and captions): for each ground-truth span, the best IoU in seconds over the
predicted ``<time>`` spans of the same sample (0 when there is none); mIoU is the mean over all
ground-truth spans, R@0.3 / R@0.5 the share of ground-truth spans whose best IoU is >= 0.3 / 0.5.
:func:`merged_intervals_iou` is CG-Bench's ``miou`` rule (both interval lists merged, then one
IoU).

Captions: METEOR, ROUGE-L, BLEU-1/BLEU-4 and CIDEr from ``pycocoevalcap`` (the COCO caption
scorers, the ``eval`` extra), either per video then averaged over videos (``average="video"``,
the rule of lmms-eval's ``youcook2_val``, which published YouCook2 figures use) or once over all
ids (``average="corpus"``). Everything ships in the wheel (``meteor-1.5.jar``
with its ``paraphrase-en.gz``, the Stanford PTB tokenizer jar); nothing is downloaded at run
time, but METEOR and the PTB tokenizer run ``java`` (Debian: ``apt-get install
default-jre-headless``) and the tokenizer writes a temporary file beside its jar, so the
site-packages directory must be writable. ``tokenizer="simple"`` (lower-case words, COCO's
punctuation dropped) avoids Java for ROUGE-L and BLEU-1.

Over 400 lines: three metric families (accuracy, temporal grounding, captions) that share the per-type tables; each is small.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vt_agent.errors import ConfigError, MissingExtraError

__all__ = [
    "CAPTION_AVERAGES",
    "Accuracy",
    "AccuracyTable",
    "CaptionScores",
    "GroundingScore",
    "accuracy_table",
    "caption_scores",
    "grounding_scores",
    "merged_intervals_iou",
    "remove_non_ascii",
    "simple_tokenize",
    "span_iou",
]


@dataclass(frozen=True)
class Accuracy:
    """``correct`` of ``total``."""

    correct: int
    total: int

    @property
    def fraction(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def percent(self) -> float:
        return 100.0 * self.fraction

    def __str__(self) -> str:
        return f"{self.correct}/{self.total} = {self.fraction:.4f} ({self.percent:.2f} %)"

    def as_dict(self) -> dict[str, float | int]:
        return {
            "correct": self.correct,
            "total": self.total,
            "accuracy": self.fraction,
            "percent": round(self.percent, 2),
        }


@dataclass(frozen=True)
class AccuracyTable:
    """Overall and per-type accuracy. Types keep the given order (then first appearance)."""

    overall: Accuracy
    per_type: dict[str, Accuracy] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "overall": self.overall.as_dict(),
            "per_type": {name: acc.as_dict() for name, acc in self.per_type.items()},
        }


def accuracy_table(
    outcomes: Iterable[tuple[str | Sequence[str] | None, bool]], type_order: Sequence[str] | None = None
) -> AccuracyTable:
    """Count ``(question_type, correct)`` pairs.

    A question type may be a list (LVBench: a question counts in each of its categories, as the
    official ``compute_accuracy.py`` does); None counts overall only. Types in ``type_order`` come
    first (listed even with no question), the others in order of first appearance.
    """
    correct = total = 0
    per_correct: dict[str, int] = {name: 0 for name in type_order or ()}
    per_total: dict[str, int] = {name: 0 for name in type_order or ()}
    for qtype, ok in outcomes:
        total += 1
        correct += bool(ok)
        if qtype is None:
            continue
        names = [qtype] if isinstance(qtype, str) else list(qtype)
        for name in names:
            per_total[name] = per_total.get(name, 0) + 1
            per_correct[name] = per_correct.get(name, 0) + bool(ok)
    return AccuracyTable(
        overall=Accuracy(correct, total),
        per_type={name: Accuracy(per_correct[name], per_total[name]) for name in per_total},
    )


# ---------------------------------------------------------------------------------------------
# Grounding

Span = tuple[float, float]


def _span(value: Sequence[float] | Mapping[str, float]) -> Span:
    if isinstance(value, Mapping):
        start, end = value.get("start_s"), value.get("end_s")
    else:
        if len(value) != 2:
            raise ConfigError(f"a time span needs [start, end] in seconds, got {value!r}")
        start, end = value[0], value[1]
    if start is None or end is None:
        raise ConfigError(f"a time span needs both start and end, got {value!r}")
    s, e = float(start), float(end)
    return (s, e) if s <= e else (e, s)


def span_iou(a: Sequence[float] | Mapping[str, float], b: Sequence[float] | Mapping[str, float]) -> float:
    """Temporal IoU of two spans in seconds (0 for disjoint spans; points count as zero length)."""
    (s1, e1), (s2, e2) = _span(a), _span(b)
    inter = max(0.0, min(e1, e2) - max(s1, s2))
    union = max(e1, e2) - min(s1, s2)
    if union <= 0.0:
        return 1.0 if (s1, e1) == (s2, e2) else 0.0
    return inter / union


@dataclass(frozen=True)
class GroundingScore:
    """mIoU and recalls over ``n_spans`` ground-truth spans (fractions, 0..1)."""

    n_spans: int
    miou: float
    recall_at_0_3: float
    recall_at_0_5: float
    best_ious: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, float | int]:
        return {
            "n_spans": self.n_spans,
            "miou": self.miou,
            "r@0.3": self.recall_at_0_3,
            "r@0.5": self.recall_at_0_5,
        }


def grounding_scores(
    samples: Iterable[
        tuple[
            Sequence[Sequence[float] | Mapping[str, float]], Sequence[Sequence[float] | Mapping[str, float]]
        ]
    ],
) -> GroundingScore:
    """Grounding (docs/protocol.md, Grounding and captions) over ``(gold_spans, predicted_spans)`` pairs, one pair per sample."""
    best: list[float] = []
    for gold, predicted in samples:
        for g in gold:
            best.append(max((span_iou(g, p) for p in predicted), default=0.0))
    n = len(best)
    if n == 0:
        return GroundingScore(0, 0.0, 0.0, 0.0)
    return GroundingScore(
        n_spans=n,
        miou=sum(best) / n,
        recall_at_0_3=sum(v >= 0.3 for v in best) / n,
        recall_at_0_5=sum(v >= 0.5 for v in best) / n,
        best_ious=tuple(best),
    )


def _merge(intervals: Iterable[Sequence[float]]) -> list[list[float]]:
    merged: list[list[float]] = []
    for start, end in sorted(([float(i[0]), float(i[1])] for i in intervals), key=lambda x: x[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def merged_intervals_iou(predicted: Iterable[Sequence[float]], gold: Iterable[Sequence[float]]) -> float:
    """CG-Bench ``miou``: merge each list's overlapping intervals, then intersection / union."""
    a, b = _merge(predicted), _merge(gold)
    len_a = sum(e - s for s, e in a)
    len_b = sum(e - s for s, e in b)
    inter = sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)
    union = len_a + len_b - inter
    return inter / union if union > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Captions

# the tokens COCO's PTBTokenizer drops after tokenising
_COCO_PUNCT = {
    "''",
    "'",
    "``",
    "`",
    "-lrb-",
    "-rrb-",
    "-lcb-",
    "-rcb-",
    ".",
    "?",
    "!",
    ",",
    ":",
    "-",
    "--",
    "...",
    ";",
}
_WORD = re.compile(r"[\w]+(?:'[\w]+)?|[^\w\s]")


def simple_tokenize(text: str) -> str:
    """Lower-case words, COCO's punctuation dropped (an approximation of the PTB tokenizer)."""
    return " ".join(t for t in _WORD.findall(text.lower()) if t not in _COCO_PUNCT)


CAPTION_AVERAGES = ("video", "corpus")
"""``video``: each metric over one video's captions, then the mean over videos (lmms-eval
``youcook2_val``, the published protocol); ``corpus``: each metric once over all captions."""


@dataclass(frozen=True)
class CaptionScores:
    """Caption metrics (fractions 0..1) over ``n`` predictions.

    ``average`` says how they were pooled (:data:`CAPTION_AVERAGES`); ``n_groups`` is the number
    of videos averaged over (1 for ``corpus``). METEOR is None when not computed.
    ``lmms_eval_bleu`` is the figure lmms-eval prints for *each* of its ``Bleu_1`` .. ``Bleu_4``
    (video average only): its aggregation takes the mean of the list of four BLEU-n scores, so
    all four columns show the mean of BLEU-1..4.
    """

    n: int
    bleu_1: float
    rouge_l: float
    meteor: float | None
    tokenizer: str
    bleu_4: float = 0.0
    cider: float = 0.0
    average: str = "corpus"
    n_groups: int = 1
    lmms_eval_bleu: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "average": self.average,
            "n_videos": self.n_groups,
            "bleu_1": self.bleu_1,
            "bleu_4": self.bleu_4,
            "rouge_l": self.rouge_l,
            "meteor": self.meteor,
            "cider": self.cider,
            "lmms_eval_bleu": self.lmms_eval_bleu,
            "tokenizer": self.tokenizer,
        }


def remove_non_ascii(text: str) -> str:
    """Every non-ASCII character replaced by a space (lmms-eval's YouCook2 pre-processing)."""
    return "".join(ch if ord(ch) < 128 else " " for ch in text)


def _need_java(feature: str) -> None:
    if shutil.which("java") is None:
        raise ConfigError(
            f"{feature} runs the COCO caption scorers' Java code, and no 'java' is on PATH: install a Java "
            "runtime (Debian/Ubuntu: apt-get install default-jre-headless), or pass meteor=False "
            "and tokenizer='simple' to score BLEU-1 and ROUGE-L without Java"
        )


def _groups(ids: Sequence[str], videos: Mapping[str, str] | None, average: str) -> list[list[str]]:
    if average == "corpus":
        return [list(ids)]
    if videos is None:
        raise ConfigError("average='video' needs the video of every caption id (videos={id: video})")
    missing = [i for i in ids if i not in videos]
    if missing:
        raise ConfigError(f"average='video': no video given for caption id(s) {missing[:5]}")
    by_video: dict[str, list[str]] = {}
    for i in ids:
        by_video.setdefault(str(videos[i]), []).append(i)
    return list(by_video.values())


def caption_scores(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    *,
    meteor: bool = True,
    tokenizer: str = "ptb",
    average: str = "corpus",
    videos: Mapping[str, str] | None = None,
) -> CaptionScores:
    """BLEU-1/4, ROUGE-L, CIDEr and (optionally) METEOR of ``predictions`` against ``references``.

    Both map an id to text (one prediction, one or more references). Ids must match.
    ``tokenizer``: ``"ptb"`` (COCO's Stanford PTB tokenizer, Java) or ``"simple"``.

    ``average="corpus"``: each COCO scorer once over all ids (BLEU and METEOR pool their counts,
    ROUGE-L is the mean over ids, CIDEr's document frequencies come from all references).
    ``average="video"`` (the lmms-eval ``youcook2_val`` rule): ``videos`` maps each id to its
    video; non-ASCII characters become spaces, everything is tokenised once, then each scorer runs
    on one video's captions at a time and the figure is the unweighted mean over videos.
    """
    if average not in CAPTION_AVERAGES:
        raise ConfigError(f"unknown caption average {average!r}; use one of: {', '.join(CAPTION_AVERAGES)}")
    if set(predictions) != set(references):
        only_p = sorted(set(predictions) - set(references))[:5]
        only_r = sorted(set(references) - set(predictions))[:5]
        raise ConfigError(
            f"caption ids differ: predictions without references {only_p}, references without predictions {only_r}"
        )
    if not predictions:
        raise ConfigError("no captions to score")
    for key, refs in references.items():
        if isinstance(refs, str) or not refs:
            raise ConfigError(f"references for {key!r} must be a non-empty list of strings")
    if tokenizer not in ("ptb", "simple"):
        raise ConfigError(f"unknown tokenizer {tokenizer!r}; use 'ptb' or 'simple'")
    ids = sorted(predictions)
    groups = _groups(ids, videos, average)
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError as exc:
        raise MissingExtraError(
            "pycocoevalcap", "eval", "caption metrics (METEOR, ROUGE-L, BLEU, CIDEr)"
        ) from exc
    clean = remove_non_ascii if average == "video" else (lambda text: text)
    if tokenizer == "ptb":
        _need_java("the PTB tokenizer")
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        ptb = PTBTokenizer()
        gts = ptb.tokenize({i: [{"caption": clean(r)} for r in references[i]] for i in ids})
        res = ptb.tokenize({i: [{"caption": clean(predictions[i])}] for i in ids})
    else:
        gts = {i: [simple_tokenize(clean(r)) for r in references[i]] for i in ids}
        res = {i: [simple_tokenize(clean(predictions[i]))] for i in ids}
    meteor_scorer: Any = None
    if meteor:
        _need_java("METEOR")
        from pycocoevalcap.meteor.meteor import Meteor

        meteor_scorer = Meteor()  # one JVM for every group
    bleu_1: list[float] = []
    bleu_4: list[float] = []
    bleu_mean: list[float] = []
    rouge: list[float] = []
    cider: list[float] = []
    meteor_scores: list[float] = []
    try:
        for group in groups:
            g_gts = {i: gts[i] for i in group}
            g_res = {i: res[i] for i in group}
            bleu, _ = Bleu(4).compute_score(g_gts, g_res, verbose=0)
            bleu_1.append(float(bleu[0]))
            bleu_4.append(float(bleu[3]))
            bleu_mean.append(float(sum(bleu)) / len(bleu))
            # COCO's Rouge divides by the candidate length: an empty prediction scores 0 here instead
            filled = [i for i in group if g_res[i][0].strip()]
            total = 0.0
            if filled:
                _, per_item = Rouge().compute_score(
                    {i: g_gts[i] for i in filled}, {i: g_res[i] for i in filled}
                )
                total = float(sum(per_item))
            rouge.append(total / len(group))
            cider_score, _ = Cider().compute_score(g_gts, g_res)
            cider.append(float(cider_score))
            if meteor_scorer is not None:
                m, _ = meteor_scorer.compute_score(g_gts, g_res)
                meteor_scores.append(float(m))
    finally:
        del meteor_scorer

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    return CaptionScores(
        n=len(ids),
        bleu_1=mean(bleu_1),
        rouge_l=mean(rouge),
        meteor=mean(meteor_scores) if meteor else None,
        tokenizer=tokenizer,
        bleu_4=mean(bleu_4),
        cider=mean(cider),
        average=average,
        n_groups=len(groups),
        lmms_eval_bleu=mean(bleu_mean) if average == "video" else None,
    )
