"""Accuracy k/N, grounding (docs/protocol.md, Grounding and captions) and caption metrics against hand-computed values."""

from __future__ import annotations

import math
import shutil

import pytest

from vt_agent.errors import ConfigError
from vt_agent.evaluation.metrics import (
    Accuracy,
    accuracy_table,
    caption_scores,
    grounding_scores,
    merged_intervals_iou,
    simple_tokenize,
    span_iou,
)


def test_accuracy_is_integer_counts() -> None:
    acc = Accuracy(794, 1837)
    assert round(acc.percent, 2) == 43.22
    assert str(acc) == "794/1837 = 0.4322 (43.22 %)"
    assert Accuracy(0, 0).fraction == 0.0
    assert acc.as_dict() == {"correct": 794, "total": 1837, "accuracy": 794 / 1837, "percent": 43.22}


def test_accuracy_table_types_and_multi_category() -> None:
    table = accuracy_table(
        [("SR", True), ("SR", False), (["KIR", "EU"], True), (None, False), ("TA", True)], ["SR", "IMC"]
    )
    assert (table.overall.correct, table.overall.total) == (3, 5)
    assert list(table.per_type) == ["SR", "IMC", "KIR", "EU", "TA"]  # given order, then first appearance
    assert (table.per_type["SR"].correct, table.per_type["SR"].total) == (1, 2)
    assert table.per_type["IMC"].total == 0
    assert (table.per_type["EU"].correct, table.per_type["EU"].total) == (1, 1)


def test_span_iou() -> None:
    assert span_iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert span_iou((0, 10), (10, 20)) == 0.0
    assert span_iou((4, 2), (2, 4)) == 1.0  # reversed span is read as (2, 4)
    assert span_iou({"start_s": 0.0, "end_s": 4.0}, [1.0, 2.0]) == pytest.approx(0.25)
    with pytest.raises(ConfigError):
        span_iou((1, 2, 3), (0, 1))


def test_grounding_mean_over_gold_spans() -> None:
    # sample 1: gold (0,10) best 0.5 with (5,10); gold (20,30) no overlap -> 0; sample 2: no prediction -> 0
    g = grounding_scores([([(0, 10), (20, 30)], [(5, 10), (40, 50)]), ([(0, 4)], [])])
    assert g.n_spans == 3
    assert g.best_ious == (0.5, 0.0, 0.0)
    assert g.miou == pytest.approx(0.5 / 3)
    assert g.recall_at_0_3 == pytest.approx(1 / 3)
    assert g.recall_at_0_5 == pytest.approx(1 / 3)  # IoU >= 0.5 counts
    # the best of several predictions is taken per gold span
    g2 = grounding_scores([([(0, 10)], [(0, 2), (0, 8), (50, 60)])])
    assert g2.miou == pytest.approx(0.8) and g2.recall_at_0_5 == 1.0
    assert grounding_scores([]).n_spans == 0


def test_cg_bench_merged_interval_iou() -> None:
    # prediction merges to (0,10); gold (5,15): intersection 5, union 15
    assert merged_intervals_iou([[0, 5], [3, 10]], [[5, 15]]) == pytest.approx(1 / 3)
    assert merged_intervals_iou([], [[0, 1]]) == 0.0


PRED = {"1": "a man cuts an onion", "2": "the oil is poured in a pan"}
REFS = {"1": ["A man slices an onion on a board."], "2": ["Pour the oil into the pan."]}


def test_bleu1_and_rouge_l_hand_computed() -> None:
    s = caption_scores(PRED, REFS, meteor=False, tokenizer="simple")
    # BLEU-1, corpus level: clipped unigram matches 4 + 3 of 5 + 7 hypothesis words; reference
    # length 8 + 6 = 14 > 12, brevity penalty exp(1 - 14/12)
    assert s.bleu_1 == pytest.approx(7 / 12 * math.exp(1 - 14 / 12), abs=1e-6)

    # ROUGE-L (beta 1.2), mean over items. Item 1: LCS 4, P 4/5, R 4/8. Item 2: LCS 3, P 3/7, R 3/6
    def f(p: float, r: float) -> float:
        return (1 + 1.2**2) * p * r / (r + 1.2**2 * p)

    assert s.rouge_l == pytest.approx((f(4 / 5, 4 / 8) + f(3 / 7, 3 / 6)) / 2, abs=1e-6)
    assert s.meteor is None and s.n == 2


def test_empty_prediction_scores_zero_rouge() -> None:
    s = caption_scores(
        {"1": PRED["1"], "3": ""}, {"1": REFS["1"], "3": ["Stir."]}, meteor=False, tokenizer="simple"
    )
    assert s.rouge_l == pytest.approx((1 + 1.44) * 0.8 * 0.5 / (0.5 + 1.44 * 0.8) / 2, abs=1e-6)


def test_caption_input_errors() -> None:
    with pytest.raises(ConfigError, match="ids differ"):
        caption_scores({"1": "x"}, {"2": ["y"]}, meteor=False, tokenizer="simple")
    with pytest.raises(ConfigError, match="non-empty list"):
        caption_scores({"1": "x"}, {"1": "y"}, meteor=False, tokenizer="simple")  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="tokenizer"):
        caption_scores({"1": "x"}, {"1": ["y"]}, meteor=False, tokenizer="spacy")


def test_simple_tokenizer_drops_coco_punctuation() -> None:
    assert simple_tokenize("Pour the oil, then stir!") == "pour the oil then stir"
    assert simple_tokenize("Don't stop.") == "don't stop"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR and the PTB tokenizer need java")
def test_meteor_and_ptb_tokenizer_offline() -> None:
    s = caption_scores(PRED, REFS, meteor=True, tokenizer="ptb")
    # PTB tokens equal the simple ones on these sentences, so BLEU-1/ROUGE-L agree
    simple = caption_scores(PRED, REFS, meteor=False, tokenizer="simple")
    assert s.bleu_1 == pytest.approx(simple.bleu_1) and s.rouge_l == pytest.approx(simple.rouge_l)
    # METEOR 1.5 (-l en -norm), measured with the jar shipped in pycocoevalcap 1.2
    assert s.meteor == pytest.approx(0.32188, abs=1e-4)


# two videos: "v1" holds items 1 and 2 (PRED/REFS above), "v2" one item
VIDEO_PRED = {**PRED, "3": "stir – then serve"}
VIDEO_REFS = {**REFS, "3": ["Stir, then serve."]}
VIDEOS = {"1": "v1", "2": "v1", "3": "v2"}


def test_video_average_is_the_mean_of_per_video_scores() -> None:
    s = caption_scores(
        VIDEO_PRED, VIDEO_REFS, meteor=False, tokenizer="simple", average="video", videos=VIDEOS
    )
    assert s.average == "video" and s.n == 3 and s.n_groups == 2
    # v1 alone is the corpus case above: BLEU-1 7/12 * BP; v2: "stir then serve" (the dash is
    # non-ASCII, removed) against "stir then serve": BLEU-1 1
    v1_bleu = 7 / 12 * math.exp(1 - 14 / 12)
    assert s.bleu_1 == pytest.approx((v1_bleu + 1.0) / 2, abs=1e-6)
    # every metric equals the mean of the corpus scores of each video's own captions
    per_video = [
        caption_scores(
            {i: VIDEO_PRED[i].replace("–", " ") for i in ids},
            {i: VIDEO_REFS[i] for i in ids},
            meteor=False,
            tokenizer="simple",
        )
        for ids in (["1", "2"], ["3"])
    ]
    for name in ("bleu_1", "bleu_4", "rouge_l", "cider"):
        assert getattr(s, name) == pytest.approx(sum(getattr(v, name) for v in per_video) / 2, abs=1e-9), name
    assert s.rouge_l == pytest.approx((per_video[0].rouge_l + 1.0) / 2, abs=1e-6)


def test_video_average_differs_from_corpus_and_keeps_lmms_eval_bleu() -> None:
    corpus = caption_scores(VIDEO_PRED, VIDEO_REFS, meteor=False, tokenizer="simple")
    video = caption_scores(
        VIDEO_PRED, VIDEO_REFS, meteor=False, tokenizer="simple", average="video", videos=VIDEOS
    )
    assert corpus.average == "corpus" and corpus.n_groups == 1 and corpus.lmms_eval_bleu is None
    # corpus BLEU-1 pools the counts: 7 + 3 matches of 12 + 4 words (the dash is a token here),
    # reference length 14 + 3 = 17 > 16
    assert corpus.bleu_1 == pytest.approx(10 / 16 * math.exp(1 - 17 / 16), abs=1e-6)
    assert video.bleu_1 != pytest.approx(corpus.bleu_1)
    # lmms-eval's Bleu_n columns all print the mean over videos of the mean of BLEU-1..4
    from pycocoevalcap.bleu.bleu import Bleu

    def mean4(ids: list[str]) -> float:
        toks = {i: [simple_tokenize(VIDEO_PRED[i].replace("–", " "))] for i in ids}
        refs = {i: [simple_tokenize(r) for r in VIDEO_REFS[i]] for i in ids}
        bleu, _ = Bleu(4).compute_score(refs, toks, verbose=0)
        return float(sum(bleu)) / 4

    assert video.lmms_eval_bleu == pytest.approx((mean4(["1", "2"]) + mean4(["3"])) / 2, abs=1e-9)


def test_video_average_needs_every_video() -> None:
    with pytest.raises(ConfigError, match="needs the video"):
        caption_scores(PRED, REFS, meteor=False, tokenizer="simple", average="video")
    with pytest.raises(ConfigError, match="no video given"):
        caption_scores(PRED, REFS, meteor=False, tokenizer="simple", average="video", videos={"1": "v"})
    with pytest.raises(ConfigError, match="caption average"):
        caption_scores(PRED, REFS, meteor=False, tokenizer="simple", average="micro")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR and the PTB tokenizer need java")
def test_meteor_per_video_average_one_jvm() -> None:
    s = caption_scores(VIDEO_PRED, VIDEO_REFS, meteor=True, tokenizer="ptb", average="video", videos=VIDEOS)
    # v1 is the two-caption set above (METEOR 0.32188); v2 matches its reference exactly once the
    # non-ASCII dash is removed and COCO's punctuation dropped (METEOR 1.0)
    assert s.meteor == pytest.approx((0.32188 + 1.0) / 2, abs=1e-4)
    assert s.n_groups == 2
