"""The training record schema: the bundled records, round trips, and line-numbered errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vt_agent.prompts import build_question
from vt_agent.trace import check_format
from vt_agent.training.schema import JsonlWriter, RecordError, TrainRecord, read_records, write_records

DATA = Path(__file__).parent / "data" / "training"
RECORDS = DATA / "records.jsonl"


def _good() -> dict[str, object]:
    return json.loads(RECORDS.read_text(encoding="utf-8").splitlines()[0])


def test_bundled_records_load_with_videos_resolved() -> None:
    records = read_records(RECORDS)
    assert [r.id for r in records] == [
        "custom:bigbuckbunny-order",
        "custom:cityCC0-shots",
        "custom:vtest-van",
    ]
    assert [r.answer for r in records] == ["A", "B", "B"]
    for r in records:
        assert Path(r.video).is_absolute() and Path(r.video).is_file()
        assert r.target == r.trace + "\n" + r.solution
        assert check_format(r.target).ok
        assert r.question_text == build_question(r.problem, r.options)
        assert r.question_text.endswith(r.options[-1] + "\n")
    raw = read_records(RECORDS, resolve_videos=False)
    assert raw[0].video == "../videos/bigbuckbunny.mp4"


def test_write_read_round_trip(tmp_path: Path) -> None:
    records = read_records(RECORDS)
    out = tmp_path / "sub" / "copy.jsonl"
    assert write_records(out, records) == 3
    back = read_records(out)
    assert [r.model_dump() for r in back] == [r.model_dump() for r in records]
    # Unset optional fields are left out of the line.
    assert "curation" not in json.loads(out.read_text().splitlines()[0])


def test_blank_lines_are_skipped_and_writer_appends(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    first, second = (TrainRecord.model_validate(json.loads(x)) for x in RECORDS.read_text().splitlines()[:2])
    with JsonlWriter(path) as w:
        w.write(first)
    with path.open("a") as fh:
        fh.write("\n   \n")
    with JsonlWriter(path, mode="a") as w:
        w.write(second)
        assert w.count == 1
    assert [r.id for r in read_records(path)] == [first.id, second.id]


def _bad(**changes: object) -> str:
    rec = _good()
    for key, value in changes.items():
        if value is None:
            rec.pop(key)
        else:
            rec[key] = value
    return json.dumps(rec)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (_bad(problem=None), "problem: Field required"),
        (_bad(solution="<answer>E</answer>"), "solution letter E is not an option letter"),
        (_bad(solution="B"), "solution must be '<answer>X</answer>'"),
        (_bad(options=["A. one"]), "at least 2 options"),
        (_bad(options=["one", "two", "three", "four"]), 'options must carry their letters as "A. text"'),
        (_bad(options=["A. one", "C. two"]), "carries letter C, expected B"),
        (_bad(trace="It is A.\n<answer>A</answer>"), "must not hold <answer>"),
        (_bad(trace="The rabbit yawns, so A."), "no <time> segment"),
        (
            _bad(trace="<time>00:00-00:02</time><caption>x</caption>"),
            "no complete <time><caption><think> group",
        ),
        (_bad(trace="<time>soon</time><caption>x</caption><think>y</think>"), "unreadable time span"),
        (_bad(spans=[{"start_s": 3.0, "end_s": 1.0}]), "end_s 1.0 is before start_s 3.0"),
        (_bad(extra_field=1), "extra_field: Extra inputs are not permitted"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    good = RECORDS.read_text().splitlines()[1]
    path.write_text(good + "\n\n" + line + "\n")
    with pytest.raises(RecordError) as info:
        read_records(path)
    message = str(info.value)
    assert f"{path} line 3" in message
    assert expected in message


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    line = RECORDS.read_text().splitlines()[0]
    path.write_text(line + "\n" + line + "\n")
    with pytest.raises(RecordError, match=r"line 2: id 'custom:bigbuckbunny-order' already used on line 1"):
        read_records(path)


def test_missing_file_is_a_record_error(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="no such file"):
        read_records(tmp_path / "nope.jsonl")


def test_solution_whitespace_is_normalised() -> None:
    rec = TrainRecord.model_validate({**_good(), "solution": " <answer> A </answer>\n"})
    assert rec.solution == "<answer>A</answer>" and rec.answer == "A"
