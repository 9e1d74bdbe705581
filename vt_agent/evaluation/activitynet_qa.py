"""ActivityNet-QA scoring (MILVLG/activitynet-qa, MIT): exact string match per question id.

Question types: 0 Motion, 1 Spatial Relation, 2 Temporal Relation, and the "free" types
3 Yes/No, 4 Color, 5 Object, 6 Location, 7 Number, 8 Other.

The official ``evaluation/eval.py`` prints a wrong "Free" figure under Python 3: its denominator
sums the per-type question counts from the fourth *dict entry* on, and a Python 3 dict keeps the
types in order of first appearance in the answer file, not in type order. :func:`score` reports
the true free-form accuracy (types 3-8) and, beside it, the figure that script prints
(``official_free_printed``) so results can be compared with published ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from vt_agent.benchmarks.activitynet import TYPE_NAMES  # the question types, read with the files
from vt_agent.errors import ConfigError

__all__ = [
    "FREE_TYPES",
    "ActivityNetQAScore",
    "TypeScore",
    "load_answers",
    "load_predictions",
    "score",
]

FREE_TYPES = (3, 4, 5, 6, 7, 8)


class TypeScore(BaseModel):
    type: int
    name: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


class ActivityNetQAScore(BaseModel):
    per_type: list[TypeScore]
    correct: int
    total: int
    free_correct: int
    free_total: int
    official_free_printed: float = Field(
        description="the 'Free' figure the official eval.py prints under Python 3 (a bug; see module docs)"
    )
    unanswered: int = Field(
        description="ground-truth questions with no prediction (counted wrong, as officially)"
    )
    unknown_predictions: int = Field(description="predictions whose question_id is not in the answers")

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def free_accuracy(self) -> float:
        return self.free_correct / self.free_total if self.free_total else 0.0

    def figures(self) -> dict[str, float]:
        """The figures in the order the official script prints them (true Free figure)."""
        by = {t.type: t.accuracy for t in self.per_type}
        out = {TYPE_NAMES[0]: by.get(0, 0.0), TYPE_NAMES[1]: by.get(1, 0.0), TYPE_NAMES[2]: by.get(2, 0.0)}
        out["Free"] = self.free_accuracy
        out["All"] = self.accuracy
        for t in FREE_TYPES:
            out[TYPE_NAMES[t]] = by.get(t, 0.0)
        return out


def _load_list(path: Path, what: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: {what} file not found") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of {what} records, got {type(data).__name__}")
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or "question_id" not in rec or "answer" not in rec:
            raise ConfigError(f"{path}: record {i} is not a {{'question_id', 'answer', ...}} object")
    return data


def load_answers(path: str | Path) -> list[dict[str, Any]]:
    """Read an official ``*_a.json`` (``[{"answer", "type", "question_id"}]``)."""
    recs = _load_list(Path(path), "answer")
    for i, rec in enumerate(recs):
        if rec.get("type") not in TYPE_NAMES:
            raise ConfigError(f"{path}: record {i} has type {rec.get('type')!r}; expected 0-8")
    return recs


def load_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Read a prediction file (``[{"question_id", "answer"}]``, the official format)."""
    return _load_list(Path(path), "prediction")


def score(
    predictions: Iterable[Mapping[str, Any]], answers: Sequence[Mapping[str, Any]]
) -> ActivityNetQAScore:
    """Exact string match of ``answer`` per ``question_id``, per type and overall.

    As officially, every ground-truth question counts in the denominator (a missing prediction is
    wrong) and a later prediction for the same id is scored again (the script loops over
    predictions); duplicate ids in predictions are therefore counted as the official script does.
    """
    truth: dict[str, Mapping[str, Any]] = {}
    type_order: list[int] = []  # first-appearance order, as a Python 3 dict keeps it
    totals: dict[int, int] = {}
    for rec in answers:
        truth[str(rec["question_id"])] = rec
        t = int(rec["type"])
        if t not in totals:
            type_order.append(t)
        totals[t] = totals.get(t, 0) + 1
    corrects = dict.fromkeys(TYPE_NAMES, 0)
    seen: set[str] = set()
    unknown = 0
    for pred in predictions:
        qid = str(pred["question_id"])
        gt = truth.get(qid)
        if gt is None:
            unknown += 1
            continue
        seen.add(qid)
        if pred["answer"] == gt["answer"]:
            corrects[int(gt["type"])] += 1
    per_type = [
        TypeScore(type=t, name=TYPE_NAMES[t], correct=corrects[t], total=totals[t]) for t in sorted(totals)
    ]
    free_correct = sum(corrects[t] for t in FREE_TYPES)
    free_total = sum(totals.get(t, 0) for t in FREE_TYPES)
    printed_denominator = sum(totals[t] for t in type_order[3:])
    return ActivityNetQAScore(
        per_type=per_type,
        correct=sum(corrects.values()),
        total=sum(totals.values()),
        free_correct=free_correct,
        free_total=free_total,
        official_free_printed=free_correct / printed_denominator if printed_denominator else 0.0,
        unanswered=len(truth) - len(seen),
        unknown_predictions=unknown,
    )
