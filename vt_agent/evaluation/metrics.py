"""Accuracy (k/N, per question type), temporal grounding (PROTOCOL.md §6) and caption metrics.

Accuracy is kept as integers: ``Accuracy(794, 1837)`` prints ``794/1837 = 0.4322 (43.22 %)``.

Grounding (PROTOCOL.md §6): for each ground-truth span, the best IoU in seconds over the
predicted ``<time>`` spans of the same sample (0 when there is none); mIoU is the mean over all
ground-truth spans, R@0.3 / R@0.5 the share of ground-truth spans whose best IoU is >= 0.3 / 0.5.
:func:`merged_intervals_iou` is CG-Bench's ``miou`` rule (both interval lists merged, then one
IoU).

Captions: METEOR, ROUGE-L and BLEU-1 from ``pycocoevalcap`` (the COCO caption scorers, the
``eval`` extra), corpus level over all ids. Everything ships in the wheel (``meteor-1.5.jar``
with its ``paraphrase-en.gz``, the Stanford PTB tokenizer jar); nothing is downloaded at run
time, but METEOR and the PTB tokenizer run ``java`` (Debian: ``apt-get install
default-jre-headless``) and the tokenizer writes a temporary file beside its jar, so the
site-packages directory must be writable. ``tokenizer="simple"`` (lower-case words, COCO's
punctuation dropped) avoids Java for ROUGE-L and BLEU-1.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from vt_agent.errors import ConfigError, MissingExtraError

__all__ = [
    "Accuracy",
    "AccuracyTable",
    "CaptionScores",
    "GroundingScore",
    "accuracy_table",
    "caption_scores",
    "grounding_scores",
    "merged_intervals_iou",
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
    """PROTOCOL.md §6 over ``(gold_spans, predicted_spans)`` pairs, one pair per sample."""
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


@dataclass(frozen=True)
class CaptionScores:
    """Corpus-level caption metrics (0..1) over ``n`` predictions; METEOR None when not computed."""

    n: int
    bleu_1: float
    rouge_l: float
    meteor: float | None
    tokenizer: str

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "bleu_1": self.bleu_1,
            "rouge_l": self.rouge_l,
            "meteor": self.meteor,
            "tokenizer": self.tokenizer,
        }


def _need_java(feature: str) -> None:
    if shutil.which("java") is None:
        raise ConfigError(
            f"{feature} runs the COCO caption scorers' Java code, and no 'java' is on PATH: install a Java "
            "runtime (Debian/Ubuntu: apt-get install default-jre-headless), or pass meteor=False "
            "and tokenizer='simple' to score BLEU-1 and ROUGE-L without Java"
        )


def caption_scores(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    *,
    meteor: bool = True,
    tokenizer: str = "ptb",
) -> CaptionScores:
    """BLEU-1, ROUGE-L and (optionally) METEOR of ``predictions`` against ``references``.

    Both map an id to text (one prediction, one or more references). Ids must match.
    ``tokenizer``: ``"ptb"`` (COCO's Stanford PTB tokenizer, Java) or ``"simple"``.
    """
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
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError as exc:
        raise MissingExtraError("pycocoevalcap", "eval", "caption metrics (METEOR, ROUGE-L, BLEU-1)") from exc
    ids = sorted(predictions)
    if tokenizer == "ptb":
        _need_java("the PTB tokenizer")
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        ptb = PTBTokenizer()
        gts = ptb.tokenize({i: [{"caption": r} for r in references[i]] for i in ids})
        res = ptb.tokenize({i: [{"caption": predictions[i]}] for i in ids})
    else:
        gts = {i: [simple_tokenize(r) for r in references[i]] for i in ids}
        res = {i: [simple_tokenize(predictions[i])] for i in ids}
    bleu, _ = Bleu(1).compute_score(gts, res, verbose=0)
    # COCO's Rouge divides by the candidate length: an empty prediction scores 0 here instead
    filled = [i for i in ids if res[i][0].strip()]
    rouge = 0.0
    if filled:
        _, per_item = Rouge().compute_score({i: gts[i] for i in filled}, {i: res[i] for i in filled})
        rouge = float(sum(per_item)) / len(ids)
    meteor_score: float | None = None
    if meteor:
        _need_java("METEOR")
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()
        try:
            meteor_score, _ = scorer.compute_score(gts, res)
        finally:
            del scorer
        meteor_score = float(meteor_score)
    return CaptionScores(
        n=len(ids),
        bleu_1=float(bleu[0]),
        rouge_l=float(rouge),
        meteor=meteor_score,
        tokenizer=tokenizer,
    )
