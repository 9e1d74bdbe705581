"""GRPO rewards: accuracy by the answer ladder, the format rule, grounding IoU."""

from __future__ import annotations

import pytest

from vt_agent.errors import ConfigError
from vt_agent.training.collate import dataset_rows, record_from_row
from vt_agent.training.rewards import (
    accuracy_reward,
    completion_text,
    format_reward,
    grounding_reward,
    reward_functions,
    span_iou,
)
from vt_agent.training.schema import TrainRecord

GOOD = (
    "Let me look. <time>00:00-00:02</time><caption>A rabbit climbs out.</caption>"
    "<think>It is a rabbit.</think>\nOption B fits.\n<answer>B</answer>"
)


def _record(spans: list[dict[str, float]] | None = None) -> TrainRecord:
    return TrainRecord(
        id="r1",
        video="/videos/bbb.mp4",
        problem="What animal is the main character?",
        options=["A. A fox", "B. A grey rabbit", "C. A squirrel"],
        solution="<answer>B</answer>",
        trace="<time>00:00-00:05</time><caption>A rabbit.</caption><think>Grey rabbit.</think>\nB fits.",
        source="test",
        spans=spans or [],
    )


def _column(*records: TrainRecord) -> list[str]:
    return [row["record"] for row in dataset_rows(list(records))]


def test_accuracy_uses_the_answer_ladder() -> None:
    rec = _record()
    completions = [
        GOOD,
        "<answer>A</answer>",
        "Final answer: B",
        "no letter here at all",
        "<answer></answer> B",
    ]
    assert accuracy_reward(completions, record=_column(*[rec] * 5)) == [1.0, 0.0, 1.0, 0.0, 0.0]


def test_format_reward_is_the_documented_rule() -> None:
    assert format_reward([GOOD]) == [1.0]
    bad = [
        "<answer>B</answer>",  # no grounded group
        GOOD.replace("</caption>", ""),  # unbalanced
        GOOD + " trailing text",  # answer not at the end
        GOOD.replace("<answer>B</answer>", "<answer>B</answer><answer>C</answer>"),  # two answers
    ]
    assert format_reward(bad) == [0.0, 0.0, 0.0, 0.0]


def test_span_iou() -> None:
    assert span_iou((0.0, 5.0), (0.0, 2.0)) == pytest.approx(0.4)
    assert span_iou((0.0, 1.0), (2.0, 3.0)) == 0.0
    assert span_iou((1.0, 3.0), (2.0, 4.0)) == pytest.approx(1 / 3)
    assert span_iou((2.0, 2.0), (2.0, 2.0)) == 1.0


def test_grounding_reward_mean_best_iou_and_none_without_spans() -> None:
    with_spans = _record([{"start_s": 0.0, "end_s": 5.0}, {"start_s": 10.0, "end_s": 12.0}])
    two_groups = GOOD.replace(
        "\nOption B", "<time>00:10-00:11</time><caption>x</caption><think>y</think>\nOption B"
    )
    rewards = grounding_reward(
        [GOOD, two_groups, "no spans"], record=_column(with_spans, with_spans, with_spans)
    )
    assert rewards[0] == pytest.approx((0.4 + 0.0) / 2)
    assert rewards[1] == pytest.approx((0.4 + 0.5) / 2)
    assert rewards[2] == 0.0
    assert grounding_reward([GOOD], record=_column(_record())) == [None]


def test_conversational_completions_and_record_column() -> None:
    rec = _record()
    conv = [[{"role": "assistant", "content": GOOD}]]
    assert completion_text(conv[0]) == GOOD
    assert accuracy_reward(conv, record=_column(rec)) == [1.0]
    assert record_from_row({"record": rec.to_json(), "prompt": "x"}).answer == "B"
    with pytest.raises(ValueError, match="record"):
        accuracy_reward([GOOD])


def test_reward_functions_by_name() -> None:
    assert reward_functions(["accuracy", "format"]) == [accuracy_reward, format_reward]
    with pytest.raises(ConfigError, match="grounding"):
        reward_functions(["accuracy", "length"])
