"""``vt-agent eval score`` on official prediction files, and scoring of ``eval run`` results files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vt_agent.cli import main
from vt_agent.evaluation.records import EvalResult, write_results
from vt_agent.evaluation.scoring import HOLMES_TYPES, score_predictions, score_results

BENCH = Path(__file__).parent / "data" / "bench"
ANET = BENCH / "activitynet_qa_eval"
OFFICIAL_PRINTED = {
    "Motion": 0.1878,
    "Spatial Relation": 0.2233,
    "Temporal Relation": 0.0350,
    "Yes/No": 0.7634,
    "Color": 0.3367,
    "Object": 0.2216,
    "Location": 0.2875,
    "Number": 0.6403,
    "Other": 0.3580,
}
HOLMES_COUNTS = {"SR": 292, "IMC": 276, "TCI": 273, "TA": 200, "MHR": 332, "PAR": 194, "CTI": 270}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_activitynet_qa_reproduces_every_official_figure(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(
        capsys,
        "eval",
        "score",
        "activitynet-qa",
        "--predictions",
        str(ANET / "pred_val_example.json"),
        "--answers",
        str(ANET / "val_a.json"),
    )
    for name, value in OFFICIAL_PRINTED.items():
        line = next(x for x in out.splitlines() if x.strip().startswith(name))
        assert f"{value:.4f}" in line, name
    assert "7172/18000" in out and "0.3984" in out  # All
    assert "free form accuracy: 0.5055" in out
    assert "official script free printed: 0.7583" in out
    assert "6369/12600 = 0.5055" in out and "first appearance" in out  # the explanation


def test_activitynet_qa_json_only(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(
        capsys,
        "eval",
        "score",
        "activitynet-qa",
        "--json",
        "--predictions",
        str(ANET / "pred_val_example.json"),
        "--answers",
        str(ANET / "val_a.json"),
    )
    data = json.loads(out)  # stdout holds only the JSON
    per = data["accuracy"]["per_type"]
    assert {k: round(v["accuracy"], 4) for k, v in per.items()} == OFFICIAL_PRINTED
    assert (data["accuracy"]["overall"]["correct"], data["accuracy"]["overall"]["total"]) == (7172, 18000)
    assert round(data["figures"]["free_form_accuracy"], 4) == 0.5055
    assert round(data["figures"]["official_script_free_printed"], 4) == 0.7583
    assert data["counts"]["free_form_correct"] == 6369


def _holmes_files(tmp_path: Path, n_correct: int) -> tuple[Path, Path]:
    answers: list[dict[str, Any]] = []
    qid = 0
    for qtype, n in HOLMES_COUNTS.items():
        for _ in range(n):
            qid += 1
            answers.append(
                {
                    "video ID": f"v{qid // 7}",
                    "Question ID": qid,
                    "Question Type": qtype,
                    "Question": "?",
                    "Options": {k: k.lower() for k in "ABCDEF"},
                    "Answer": "ABCDEF"[qid % 6],
                    "Explanation": "",
                }
            )
    preds = []
    for i, rec in enumerate(answers):
        gold = rec["Answer"]
        wrong = "ABCDEF"[("ABCDEF".index(gold) + 1) % 6]
        preds.append(
            {
                "Question ID": rec["Question ID"],
                "Question Type": rec["Question Type"],
                "GT": gold,
                "Predicr Answer": gold if i % 1837 < n_correct else wrong,
            }
        )
    # spread the correct ones over every type
    order = list(range(len(preds)))
    order = order[::2] + order[1::2]
    spread = [dict(preds[j]) for j in order]
    for k, p in enumerate(spread):
        gold = answers[order[k]]["Answer"]
        p["Predicr Answer"] = gold if k < n_correct else "ABCDEF"[("ABCDEF".index(gold) + 1) % 6]
    a, p = tmp_path / "test_Video-Holmes.json", tmp_path / "Results-model.json"
    a.write_text(json.dumps(answers))
    p.write_text(json.dumps(spread))
    return p, a


def test_video_holmes_794_of_1837_prints_43_22(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p, a = _holmes_files(tmp_path, 794)
    out = _run(capsys, "eval", "score", "video-holmes", "--predictions", str(p), "--answers", str(a))
    overall = next(x for x in out.splitlines() if x.strip().startswith("Overall"))
    assert "794/1837" in overall and "43.22" in overall
    data = json.loads(
        _run(capsys, "eval", "score", "video-holmes", "--json", "--predictions", str(p), "--answers", str(a))
    )
    per = data["accuracy"]["per_type"]
    assert list(per) == list(HOLMES_TYPES)
    assert {k: v["total"] for k, v in per.items()} == HOLMES_COUNTS
    assert sum(v["total"] for v in per.values()) == 1837
    assert sum(v["correct"] for v in per.values()) == 794
    assert data["accuracy"]["overall"]["percent"] == 43.22


def test_video_holmes_raw_responses_and_missing(tmp_path: Path) -> None:
    answers = [json.loads(x) for x in (BENCH / "video_holmes.jsonl").read_text().splitlines()][:6]
    a = tmp_path / "answers.jsonl"
    a.write_text("\n".join(json.dumps(r) for r in answers))
    responses = [
        {
            "Question ID": answers[0]["Question ID"],
            "response": f"<think>x</think><answer>{answers[0]['Answer']}</answer>",
        },
        # the official ladder: "A " in the untagged reasoning wins
        {
            "Question ID": answers[1]["Question ID"],
            "response": f"A man appears. So {answers[1]['Answer']}: yes",
        },
        {"Question ID": 999999, "prediction": "A"},
    ]
    p = tmp_path / "preds.json"
    p.write_text(json.dumps(responses))
    s = score_predictions("video-holmes", p, a)
    assert s.accuracy is not None
    assert (s.accuracy.overall.correct, s.accuracy.overall.total) == (1 + (answers[1]["Answer"] == "A"), 6)
    assert s.counts["no_prediction_counted_wrong"] == 4
    assert s.counts["predictions_for_unknown_questions"] == 1


def test_vrbench_official_inference_file(tmp_path: Path) -> None:
    flat = [json.loads(x) for x in (BENCH / "vrbench.jsonl").read_text().splitlines()]
    answers = tmp_path / "vrbench.jsonl"
    answers.write_text("\n".join(json.dumps(r) for r in flat))
    by_video: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(flat[:10]):  # 3 questions without a response
        resp = f"The answer is \\boxed{{{r['answer']}}}" if i < 7 else "I think it is A. Because..."
        by_video.setdefault(r["video_id"], {"video_id": r["video_id"], "mcq_result": {}})["mcq_result"][
            r["qa_key"]
        ] = [resp]
    preds = tmp_path / "mcq_results.jsonl"
    preds.write_text("\n".join(json.dumps(v) for v in by_video.values()))
    s = score_predictions("vrbench", preds, answers)
    assert s.accuracy is not None
    want_correct = 7 + sum(1 for r in flat[7:10] if r["answer"] == "A")
    assert (s.accuracy.overall.correct, s.accuracy.overall.total) == (want_correct, 10)
    assert s.counts["questions_without_response_excluded"] == 3
    assert any("left out of N" in n for n in s.notes)
    assert sum(a.total for a in s.accuracy.per_type.values()) == 10


def test_lvbench_answers_json(tmp_path: Path) -> None:
    meta = tmp_path / "video_info.meta.jsonl"
    meta.write_text(
        json.dumps(
            {
                "key": "v1",
                "type": "x",
                "qa": [
                    {
                        "uid": 1,
                        "question": "q",
                        "answer": "A",
                        "question_type": ["reasoning", "event understanding"],
                    },
                    {"uid": 2, "question": "q", "answer": "B", "question_type": ["reasoning"]},
                    {"uid": 3, "question": "q", "answer": "C", "question_type": ["summarization"]},
                ],
            }
        )
    )
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"1": "A", "2": "C"}))
    s = score_predictions("lvbench", answers, meta)
    assert s.accuracy is not None
    assert (s.accuracy.overall.correct, s.accuracy.overall.total) == (1, 2)
    assert (s.accuracy.per_type["reasoning"].correct, s.accuracy.per_type["reasoning"].total) == (1, 2)
    assert s.counts["unanswered_excluded"] == 1


def test_unsupported_and_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "score", "youcook2", "--predictions", "x", "--answers", "y"]) == 2
    assert "no official prediction-file format" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json\n")
    assert main(["eval", "score", "video-holmes", "--predictions", str(bad), "--answers", str(bad)]) == 2
    assert "bad.json:1" in capsys.readouterr().err


def _row(**kw: Any) -> EvalResult:
    base: dict[str, Any] = {
        "key": kw.pop("key"),
        "benchmark": "video-holmes",
        "id": "1",
        "video": "v.mp4",
        "question_type": "SR",
        "problem": "?",
        "options": ["a", "b"],
        "answer": "A",
        "protocol": "video-thinker",
        "preset": "video-thinker-16f",
        "backend": "fake",
        "model": "m",
    }
    base.update(kw)
    return EvalResult(**base)


def test_score_results_counts_every_row(tmp_path: Path) -> None:
    rows = [
        _row(
            key="k1",
            prediction="A",
            raw_output="<answer>A</answer>",
            format_ok=True,
            gold_spans=[(0.0, 10.0)],
            segments=[{"start_s": 5.0, "end_s": 10.0, "caption": "x"}],
        ),
        _row(key="k2", question_type="IMC", prediction="B", raw_output="A man. <answer>B</answer>"),
        _row(key="k3", question_type="TA", error="VideoDecodeError: broken"),
        _row(key="k4", skipped=True, error="video not found"),
        _row(
            key="k2", question_type="IMC", prediction="A", raw_output="<answer>A</answer>"
        ),  # resumed: last wins
        _row(key="o1", benchmark="vrbench", prediction="A"),
    ]
    path = tmp_path / "results.jsonl"
    write_results(path, rows)
    s = score_results("video-holmes", path)
    assert s.accuracy is not None
    assert (s.accuracy.overall.correct, s.accuracy.overall.total) == (2, 3)  # k1, k2 right; k3 error wrong
    assert s.counts["skipped_missing_video"] == 1
    assert s.counts["errors_counted_wrong"] == 1
    assert s.counts["duplicate_rows"] == 1
    assert s.counts["rows_of_other_benchmarks"] == 1
    assert s.grounding is not None and s.grounding.miou == pytest.approx(0.5)
    assert any("missing" in n for n in s.notes) and any("failed" in n for n in s.notes)
    # rescoring the raw outputs with the official Video-Holmes ladder: "A " wins in k2's text
    r = score_results("video-holmes", path, protocol="official")
    assert r.accuracy is not None and r.accuracy.overall.correct == 2
    assert r.run["rescored_with"] == "official"


@pytest.mark.parametrize(
    ("benchmark", "why"),
    [("cg-bench", "cg_annotations"), ("cg-bench-reasoning", "cg_annotations"), ("star", "STAR publishes no")],
)
def test_no_official_prediction_format_points_to_report(
    benchmark: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "score", benchmark, "--predictions", "x", "--answers", "y"]) == 2
    err = capsys.readouterr().err
    assert why in err and f"vt-agent eval report RESULTS.jsonl --benchmark {benchmark}" in err


def test_video_holmes_results_rows_never_read_the_gold_answer(tmp_path: Path) -> None:
    """A vt-agent results file given to 'eval score': its 'answer' is the gold letter, not a prediction."""
    rows = [
        _row(key="k1", id="1", prediction="A", raw_output="<answer>A</answer>"),
        _row(key="k2", id="2", skipped=True, error="video not found"),  # prediction None, answer "A"
    ]
    preds = tmp_path / "results.jsonl"
    write_results(preds, rows)
    gold = tmp_path / "gold.json"
    gold.write_text(
        json.dumps(
            [
                {"Question ID": qid, "Question Type": "SR", "Answer": "A", "Question": "?", "Options": {}}
                for qid in (1, 2)
            ]
        )
    )
    s = score_predictions("video-holmes", preds, gold)
    assert s.accuracy is not None and (s.accuracy.overall.correct, s.accuracy.overall.total) == (1, 2)
    assert s.counts["no_prediction_counted_wrong"] == 1
