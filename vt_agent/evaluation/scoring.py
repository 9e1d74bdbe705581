"""Score a ``vt-agent eval run`` results file, or a prediction file in a benchmark's official format.

:func:`score_results` reads ``results.jsonl`` rows (:class:`vt_agent.evaluation.records.EvalResult`)
and gives accuracy k/N overall and per question type, grounding (where rows carry gold spans)
and caption metrics (YouCook2). Every row is accounted for: rows whose video is missing
(``skipped``) are left out of N, as the authors did, and counted; rows with an ``error`` count
as wrong (in N) and are counted; duplicate keys (a resumed or merged run) keep the last row and
are counted.

:func:`score_predictions` scores files made elsewhere, in the official shapes:

``activitynet-qa``
    ``[{"question_id", "answer"}]`` against ``*_a.json`` (``[{"question_id", "answer", "type"}]``),
    by :mod:`vt_agent.evaluation.activitynet_qa` (exact match, every question in N; the official
    script's wrong "Free" figure is reported beside the true one).
``video-holmes``
    the official ``Results-<model>.json`` list (``"Question ID"`` + ``"Predicr Answer"``, sic), or
    a ``{question_id: answer}`` object, or JSON/JSONL rows with ``question_id``/``Question ID`` and
    ``prediction``/``answer`` (a letter) or ``response``/``raw_output`` (a model output, read with
    the official ladder); against ``test_Video-Holmes.json`` (list or JSONL). Every question is in
    N; a question without a prediction is wrong, as it would be in ``evaluate.py``.
``vrbench``
    the official inference file (JSONL, ``{"video_id", "mcq_result": {"qa1": response | [responses]}}``)
    against the benchmark JSONL (one line per video with ``"mcq"``, or one MCQ a line with
    ``qa_key``). As ``calculate_scores.py`` does, only questions with a response are in N; the
    others are counted and reported.
``lvbench``
    ``{uid: letter}`` against ``video_info.meta.jsonl``, as ``compute_accuracy.py``: answered
    questions only, a question counts in each of its ``question_type`` categories.

CG-Bench and STAR define no prediction file (CG-Bench's code stores each scored answer inside the
question's annotation file; STAR has no offline scorer): :func:`score_predictions` refuses them and
points to ``vt-agent eval report`` on a results file.

Over 400 lines: one scorer per official prediction format, all producing the same score table.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vt_agent.errors import ConfigError
from vt_agent.evaluation.extractors import (
    answer_matches,
    canonical_benchmark,
    extract_answer,
    video_holmes_letter,
    vrbench_letter,
)
from vt_agent.evaluation.metrics import (
    Accuracy,
    AccuracyTable,
    CaptionScores,
    GroundingScore,
    accuracy_table,
    caption_scores,
    grounding_scores,
)

__all__ = [
    "HOLMES_TYPES",
    "BenchmarkScore",
    "score_predictions",
    "score_results",
]

HOLMES_TYPES = ("SR", "IMC", "TCI", "TA", "MHR", "PAR", "CTI")
VRBENCH_TYPES = (
    "Implicit Inference",
    "Logical Linkage",
    "Event Attribution",
    "Counting Porblems",
    "Hypothetical Reasoning",
    "Event Prediction",
    "Event Summarization",
)
NO_TYPE = "(no type)"
"""The per-type row of questions without a type, in a set where other questions have one."""
_TYPE_ORDER: dict[str, tuple[str, ...]] = {"video-holmes": HOLMES_TYPES}


@dataclass
class BenchmarkScore:
    """What a scorer found: accuracy table, counts of every row, optional grounding/captions."""

    benchmark: str
    source: str
    accuracy: AccuracyTable | None = None
    counts: dict[str, int] = field(default_factory=dict)
    grounding: GroundingScore | None = None
    captions: CaptionScores | None = None
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    run: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """Shown first: figures that measure nothing (scripted traces, the tiny random model)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "source": self.source,
            "accuracy": self.accuracy.as_dict() if self.accuracy else None,
            "counts": dict(self.counts),
            "grounding": self.grounding.as_dict() if self.grounding else None,
            "captions": self.captions.as_dict() if self.captions else None,
            "figures": dict(self.figures),
            "notes": list(self.notes),
            "run": dict(self.run),
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------------------------
# results.jsonl


def row_source(row: Any) -> str:
    """Where a row's answer came from: ``model``, ``random weights`` or ``scripted`` (as ``Result.source``)."""
    from vt_agent.result import has_random_weights

    if row.backend == "fake":
        return "scripted"
    return "random weights" if row.model and has_random_weights(row.model) else "model"


_ANSWER_TAG = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.IGNORECASE | re.DOTALL)


def _fallback_letters(rows: list[Any]) -> int:
    """Rows of the video-thinker protocol whose letter was read without an ``<answer>`` tag."""
    return sum(
        1
        for r in rows
        if r.protocol == "video-thinker"
        and r.prediction
        and r.error is None
        and not _ANSWER_TAG.search(r.raw_output)
    )


def _meaningless_runs(rows: list[Any]) -> list[str]:
    """Warnings for rows whose answers come from no real model."""
    out = []
    fake = sum(1 for r in rows if row_source(r) == "scripted")
    if fake:
        out.append(
            f"{fake} of {len(rows)} scored row(s) come from the fake backend: SCRIPTED, hand-written traces, "
            "not a model's answers. These figures measure nothing about any model."
        )
    tiny = sum(1 for r in rows if row_source(r) == "random weights")
    if tiny:
        out.append(
            f"{tiny} of {len(rows)} scored row(s) come from a model with random weights (the tiny checkpoint): "
            "its output is noise. These figures only show the pipeline working."
        )
    return out


def _gold(answer: str, benchmark: str) -> str:
    text = answer.strip()
    if benchmark == "video-r1" and text.lower().startswith("<answer>") and text.lower().endswith("</answer>"):
        return text[len("<answer>") : -len("</answer>")].strip()
    return text


def _majority(rows: Sequence[Any], name: str) -> str:
    values = Counter(str(getattr(r, name)) for r in rows if getattr(r, name, None))
    if not values:
        return ""
    if len(values) == 1:
        return next(iter(values))
    return ", ".join(f"{v} ({n})" for v, n in values.most_common())


def score_results(
    benchmark: str,
    results_path: str | Path,
    *,
    protocol: str | None = None,
    meteor: bool = True,
    caption_tokenizer: str = "ptb",
    caption_average: str = "video",
) -> BenchmarkScore:
    """Score the rows of ``results_path`` whose ``benchmark`` is ``benchmark``.

    ``protocol`` None scores the stored ``prediction``; ``"official"`` or ``"video-thinker"``
    extracts the answer again from ``raw_output`` with that protocol's rule first (to rescore a
    run under the other extractor). ``meteor``/``caption_tokenizer``/``caption_average`` apply to
    caption sets (YouCook2): ``caption_average="video"`` (default) scores each video's captions and
    averages over videos, as lmms-eval's ``youcook2_val`` does; ``"corpus"`` pools all captions.
    """
    from vt_agent.evaluation.records import read_results

    name = canonical_benchmark(benchmark)
    path = Path(results_path)
    if not path.exists():
        raise ConfigError(f"{path}: no such results file; write one with 'vt-agent eval run'")
    all_rows = read_results(path)
    rows = [r for r in all_rows if canonical_benchmark(r.benchmark) == name]
    other = len(all_rows) - len(rows)
    if not rows:
        found = sorted({r.benchmark for r in all_rows})
        raise ConfigError(
            f"{path}: no rows for benchmark {benchmark!r} (the file has: {', '.join(found) or 'none'})"
        )
    by_key: dict[str, Any] = {}
    for r in rows:
        by_key[r.key] = r
    unique = list(by_key.values())
    skipped = [r for r in unique if r.skipped]
    scored = [r for r in unique if not r.skipped]
    errors = [r for r in scored if r.error is not None]

    def prediction(r: Any) -> str | None:
        if protocol is None or r.error is not None:
            return r.prediction if isinstance(r.prediction, str) else None
        return extract_answer(name, r.raw_output, r, protocol=protocol)

    score = BenchmarkScore(benchmark=benchmark, source=str(path))
    score.run = {k: _majority(unique, k) for k in ("protocol", "preset", "backend", "model")}
    score.run["answer source"] = ", ".join(sorted({row_source(r) for r in scored}))
    if protocol is not None:
        score.run["rescored_with"] = protocol
    score.warnings = _meaningless_runs(scored)
    unanswered = 0
    if name != "youcook2":
        outcomes: list[tuple[str | None, bool]] = []
        # when only some rows are typed, the others get a row of their own so the table sums to N
        untyped = NO_TYPE if any(r.question_type for r in scored) else None
        for r in scored:
            p = prediction(r)
            if p is None:
                unanswered += 1
            outcomes.append(
                (
                    r.question_type or untyped,
                    answer_matches(name, p, _gold(r.answer, name), options=r.options),
                )
            )
        score.accuracy = accuracy_table(outcomes, _TYPE_ORDER.get(name))
        if name == "activitynet-qa":
            free = [
                ok for t, ok in outcomes if t in ("Yes/No", "Color", "Object", "Location", "Number", "Other")
            ]
            if free:
                score.figures["free_form_accuracy"] = sum(free) / len(free)
    else:
        preds = {r.key: (prediction(r) or "") for r in scored}
        refs = {r.key: [r.answer] for r in scored}
        videos = {r.key: r.video or r.id.split("/")[0] for r in scored}
        if preds:
            score.captions = caption_scores(
                preds,
                refs,
                meteor=meteor,
                tokenizer=caption_tokenizer,
                average=caption_average,
                videos=videos,
            )
            if caption_average == "video":
                score.notes.append(
                    f"Caption metrics are computed per video ({score.captions.n_groups} videos) and averaged, "
                    "non-ASCII characters removed, as lmms-eval's youcook2_val does; lmms-eval prints them x100. "
                    "Its Bleu_1..Bleu_4 columns all show the mean of BLEU-1..4 (lmms_eval_bleu here). "
                    "--caption-average corpus pools all captions instead."
                )
        unanswered = sum(1 for v in preds.values() if not v.strip())
    spans = [
        (
            list(r.gold_spans),
            [
                (s["start_s"], s["end_s"])
                for s in r.segments
                if s.get("start_s") is not None and s.get("end_s") is not None
            ],
        )
        for r in scored
        if r.gold_spans
    ]
    if spans:
        score.grounding = grounding_scores(spans)
    score.counts = {
        "rows": len(rows),
        "duplicate_rows": len(rows) - len(unique),
        "scored": len(scored),
        "skipped_missing_video": len(skipped),
        "errors_counted_wrong": len(errors),
        "no_answer_extracted": unanswered,
        "format_ok": sum(1 for r in scored if r.format_ok),
        "answers_from_random_weights": sum(1 for r in scored if row_source(r) == "random weights"),
        "answers_from_scripted_traces": sum(1 for r in scored if row_source(r) == "scripted"),
        "letters_from_fallback_rules": _fallback_letters(scored),
        "rows_of_other_benchmarks": other,
    }
    if skipped:
        score.notes.append(
            f"{len(skipped)} question(s) skipped because their video is missing; not counted in N (as the authors scored)."
        )
    if errors:
        kinds = Counter(str(r.error).split(":")[0][:60] for r in errors)
        score.notes.append(
            f"{len(errors)} question(s) failed ({'; '.join(f'{k} x{n}' for k, n in kinds.most_common(3))}); "
            "counted wrong, in N. Rerun 'vt-agent eval run' with the same --out to retry them."
        )
    if len(rows) != len(unique):
        score.notes.append(
            f"{len(rows) - len(unique)} duplicate row(s) for the same key: the last one counts."
        )
    return score


# ---------------------------------------------------------------------------------------------
# official prediction files


def _read_json_or_jsonl(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    stripped = text.lstrip()
    if not stripped:
        raise ConfigError(f"{path}: the {what} file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}:{i}: not valid JSON ({exc.msg}); the {what} file must be JSON or JSONL"
            ) from None
    return out


def _first(rec: Mapping[str, Any], *names: str) -> Any:
    for n in names:
        if n in rec and rec[n] is not None:
            return rec[n]
    return None


def _holmes_predictions(data: Any, path: Path) -> dict[str, str | None]:
    if isinstance(data, Mapping):
        return {str(k): (str(v) if v is not None else None) for k, v in data.items()}
    if not isinstance(data, list):
        raise ConfigError(
            f"{path}: expected a list of prediction records or a {{question_id: answer}} object"
        )
    out: dict[str, str | None] = {}
    for i, rec in enumerate(data):
        if not isinstance(rec, Mapping):
            raise ConfigError(f"{path}: record {i} is not an object")
        qid = _first(rec, "Question ID", "question_id", "id")
        if qid is None:
            raise ConfigError(f"{path}: record {i} has no 'Question ID' / 'question_id'")
        if "prediction" in rec or "raw_output" in rec:
            # a vt-agent results row: its "answer" is the gold letter, never a prediction
            letter = _first(rec, "Predicr Answer", "Predict Answer", "prediction")
        else:
            letter = _first(rec, "Predicr Answer", "Predict Answer", "prediction", "answer")
        if letter is None:
            raw = _first(rec, "response", "raw_output", "output")
            letter = video_holmes_letter(str(raw)) if raw is not None else None
        out[str(qid)] = None if letter is None or letter == "WRONG" else str(letter)
    return out


def _score_video_holmes(predictions: Path, answers: Path) -> BenchmarkScore:
    preds = _holmes_predictions(_read_json_or_jsonl(predictions, "prediction"), predictions)
    gold = _read_json_or_jsonl(answers, "answer")
    if not isinstance(gold, list):
        raise ConfigError(f"{answers}: expected test_Video-Holmes.json (a list of question records)")
    outcomes: list[tuple[str | None, bool]] = []
    seen: set[str] = set()
    unanswered = 0
    for i, rec in enumerate(gold):
        if not isinstance(rec, Mapping) or "Answer" not in rec or "Question ID" not in rec:
            raise ConfigError(
                f"{answers}: record {i} lacks 'Question ID' or 'Answer' (not a Video-Holmes record)"
            )
        qid = str(rec["Question ID"])
        seen.add(qid)
        p = preds.get(qid)
        if p is None:
            unanswered += 1
        outcomes.append((rec.get("Question Type"), p is not None and p == rec["Answer"]))
    score = BenchmarkScore(benchmark="video-holmes", source=str(predictions))
    score.accuracy = accuracy_table(outcomes, HOLMES_TYPES)
    unknown = len(set(preds) - seen)
    score.counts = {
        "questions": len(gold),
        "predictions": len(preds),
        "no_prediction_counted_wrong": unanswered,
        "predictions_for_unknown_questions": unknown,
    }
    if unanswered:
        score.notes.append(f"{unanswered} question(s) have no usable prediction: counted wrong, in N.")
    if unknown:
        score.notes.append(f"{unknown} prediction(s) name a Question ID not in the answers file: ignored.")
    score.notes.append(
        "evaluate.py writes per-type accuracy to CSV as a fraction with 2 decimals (e.g. 0.43); "
        "the figures here are exact."
    )
    return score


def _vrbench_gold(data: Any, path: Path) -> dict[str, tuple[str, str | None]]:
    rows = data if isinstance(data, list) else [data]
    gold: dict[str, tuple[str, str | None]] = {}
    for i, rec in enumerate(rows):
        if not isinstance(rec, Mapping) or "video_id" not in rec:
            raise ConfigError(f"{path}: record {i + 1} has no 'video_id' (not a VRBench record)")
        vid = str(rec["video_id"])
        if isinstance(rec.get("mcq"), Mapping):
            for qa_id, qa in rec["mcq"].items():
                gold[f"{vid}_{qa_id}"] = (str(qa["answer"]), qa.get("reasoning_type"))
        elif "qa_key" in rec and "answer" in rec:
            gold[f"{vid}_{rec['qa_key']}"] = (str(rec["answer"]), rec.get("reasoning_type"))
        else:
            raise ConfigError(f"{path}: record {i + 1} has neither 'mcq' nor 'qa_key'/'answer'")
    return gold


def _score_vrbench(predictions: Path, answers: Path) -> BenchmarkScore:
    gold = _vrbench_gold(_read_json_or_jsonl(answers, "answer"), answers)
    data = _read_json_or_jsonl(predictions, "prediction")
    rows = data if isinstance(data, list) else [data]
    responses: dict[str, str] = {}
    for i, rec in enumerate(rows):
        if not isinstance(rec, Mapping) or "video_id" not in rec:
            raise ConfigError(
                f"{predictions}: record {i + 1} has no 'video_id' (expected the VRBench inference file)"
            )
        for qa_id, resp in (rec.get("mcq_result") or {}).items():
            first = resp[0] if isinstance(resp, list) else resp
            responses[f"{rec['video_id']}_{qa_id}"] = "" if first is None else str(first)
    outcomes = []
    missing = 0
    for qid, (answer, rtype) in gold.items():
        if qid not in responses:
            missing += 1
            continue
        outcomes.append((rtype, vrbench_letter(responses[qid]) == answer))
    score = BenchmarkScore(benchmark="vrbench", source=str(predictions))
    score.accuracy = accuracy_table(outcomes, [t for t in VRBENCH_TYPES if any(t == o[0] for o in outcomes)])
    score.counts = {
        "questions": len(gold),
        "responses": len(responses),
        "questions_without_response_excluded": missing,
        "responses_for_unknown_questions": len(set(responses) - set(gold)),
    }
    if missing:
        over_all = Accuracy(score.accuracy.overall.correct, len(gold))
        score.figures["accuracy_over_all_questions"] = over_all.fraction
        score.notes.append(
            f"{missing} question(s) have no response and are left out of N, as calculate_scores.py does; "
            f"over all {len(gold)} questions the accuracy is {over_all}."
        )
    return score


def _score_lvbench(predictions: Path, answers: Path) -> BenchmarkScore:
    model_answers = _read_json_or_jsonl(predictions, "prediction")
    if not isinstance(model_answers, Mapping):
        raise ConfigError(f"{predictions}: expected answers.json, a {{uid: letter}} object")
    meta = _read_json_or_jsonl(answers, "answer")
    metas = meta if isinstance(meta, list) else [meta]
    outcomes: list[tuple[str | Sequence[str] | None, bool]] = []
    total = 0
    for i, video in enumerate(metas):
        if not isinstance(video, Mapping) or not isinstance(video.get("qa"), list):
            raise ConfigError(f"{answers}: line {i + 1} has no 'qa' list (expected video_info.meta.jsonl)")
        for qa in video["qa"]:
            total += 1
            uid = str(qa["uid"])
            if uid in model_answers:
                outcomes.append((list(qa.get("question_type") or []), model_answers[uid] == qa["answer"]))
    score = BenchmarkScore(benchmark="lvbench", source=str(predictions))
    score.accuracy = accuracy_table(outcomes)
    score.counts = {
        "questions": total,
        "answered": len(outcomes),
        "unanswered_excluded": total - len(outcomes),
    }
    if total != len(outcomes):
        score.notes.append(
            f"{total - len(outcomes)} question(s) without an answer are left out of N, as compute_accuracy.py does."
        )
    return score


def _score_activitynet_qa(predictions: Path, answers: Path) -> BenchmarkScore:
    from vt_agent.evaluation import activitynet_qa as anqa

    result = anqa.score(anqa.load_predictions(predictions), anqa.load_answers(answers))
    per_type = {t.name: Accuracy(t.correct, t.total) for t in result.per_type}
    score = BenchmarkScore(benchmark="activitynet-qa", source=str(predictions))
    score.accuracy = AccuracyTable(overall=Accuracy(result.correct, result.total), per_type=per_type)
    score.figures = {
        "free_form_accuracy": result.free_accuracy,
        "official_script_free_printed": result.official_free_printed,
    }
    score.counts = {
        "questions": result.total,
        "free_form_questions": result.free_total,
        "free_form_correct": result.free_correct,
        "unanswered_counted_wrong": result.unanswered,
        "predictions_for_unknown_questions": result.unknown_predictions,
    }
    if round(result.official_free_printed, 4) != round(result.free_accuracy, 4):
        score.notes.append(
            f"The official evaluation/eval.py prints Free {result.official_free_printed:.4f} for these files; the "
            f"true free-form accuracy (types 3-8: Yes/No, Color, Object, Location, Number, Other) is "
            f"{result.free_correct}/{result.free_total} = {result.free_accuracy:.4f}. Under Python 3 that script "
            "sums its denominator over the per-type counts from the fourth dict entry on, and the dict keeps the "
            "types in order of first appearance in the answer file, not in type order (Python 2's int-key order "
            "happened to give types 3-8). Every other figure it prints agrees with this one."
        )
    if result.unanswered:
        score.notes.append(
            f"{result.unanswered} question(s) have no prediction: counted wrong, as officially."
        )
    return score


_NO_PREDICTION_FORMAT = {
    "cg-bench": (
        "CG-Bench publishes no prediction-file format or aggregate scorer: its run/run_api.py scores each "
        "answer as it goes (post_process: 1/0) and stores it inside that question's annotation file "
        "(cg_annotations/{qid}.json, under results['<mode>_<model>_...'])."
    ),
    "star": "STAR publishes no prediction-file format or offline scorer for its answer key (FORMATS.md).",
}
"""Benchmarks whose official code defines no prediction file to score (``eval score`` refuses them)."""

_PREDICTION_SCORERS = {
    "activitynet-qa": _score_activitynet_qa,
    "video-holmes": _score_video_holmes,
    "vrbench": _score_vrbench,
    "lvbench": _score_lvbench,
}


def score_predictions(
    benchmark: str, predictions_path: str | Path, answers_path: str | Path
) -> BenchmarkScore:
    """Score a prediction file in ``benchmark``'s official format (see the module docs)."""
    name = canonical_benchmark(benchmark)
    scorer = _PREDICTION_SCORERS.get(name)
    if name in _NO_PREDICTION_FORMAT:
        raise ConfigError(
            f"{benchmark}: {_NO_PREDICTION_FORMAT[name]} 'eval score' therefore has nothing official to read. "
            f"Run the benchmark with 'vt-agent eval run {benchmark} ... --out RESULTS.jsonl' and score it with "
            f"'vt-agent eval report RESULTS.jsonl --benchmark {benchmark}' (rows made elsewhere can be written in "
            "the results format, docs/evaluation.md 'Results file')."
        )
    if scorer is None:
        raise ConfigError(
            f"no official prediction-file format for {benchmark!r}; 'eval score' reads "
            f"{', '.join(_PREDICTION_SCORERS)}. Score a vt-agent run with 'vt-agent eval report RESULTS.jsonl --benchmark {benchmark}'."
        )
    return scorer(Path(predictions_path), Path(answers_path))
