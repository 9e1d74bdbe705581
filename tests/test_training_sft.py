"""Video SFT on the tiny random Qwen2.5-VL and the real bundled clips (CPU).

A small sampling preset (4 frames, 32*28*28 pixels) keeps each step well under a second; the
prompt, chat template, video patching and loss masking are the same as with the paper's preset.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from vt_agent.prompts import SYSTEM_PROMPT  # noqa: E402
from vt_agent.tiny import build_tiny_checkpoint  # noqa: E402
from vt_agent.training.collate import IGNORE_INDEX, VideoSFTCollator  # noqa: E402
from vt_agent.training.schema import read_records  # noqa: E402
from vt_agent.training.train_config import TrainConfig  # noqa: E402
from vt_agent.training.trl_video import TrainingError  # noqa: E402
from vt_agent.video import make_preset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "examples" / "configs" / "tiny-train.jsonl"
SMALL = {"name": "test-4f", "num_frames": 4, "min_pixels": 32 * 28 * 28, "max_pixels": 32 * 28 * 28}
PRESET = make_preset(**SMALL)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture(scope="module")
def tokenizer(tiny: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny)


class VisionProbe:
    """Counts vision-tower forwards made with grad enabled (the loss forward) and records its grad norms."""

    def __init__(self, model: Any) -> None:
        self.loss_forwards = 0
        self.grad_norms: list[float] = []
        visual = model.model.visual
        visual.register_forward_hook(self._forward)
        first = next(p for p in visual.parameters() if p.requires_grad)
        first.register_hook(self._grad)

    def _forward(self, module: Any, args: Any, output: Any) -> None:
        if torch.is_grad_enabled():
            self.loss_forwards += 1

    def _grad(self, grad: Any) -> None:
        self.grad_norms.append(float(grad.norm()))


def _callback(probes: list[VisionProbe]) -> Any:
    from transformers import TrainerCallback

    class Attach(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            probes.append(VisionProbe(model))

    return Attach()


def _config(tiny: Path, out: Path, **train: Any) -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "kind": "sft",
            "output_dir": out,
            "model": {"name_or_path": str(tiny), "dtype": "float32", "attn_implementation": "eager"},
            "data": {"train_file": RECORDS, "preset": SMALL, "max_samples": 1},
            "train": {
                "use_cpu": True,
                "gradient_accumulation_steps": 1,
                "lr_scheduler_type": "constant",
                **train,
            },
        }
    )


def test_collator_builds_video_batch_with_assistant_only_labels(tokenizer: Any) -> None:
    records = read_records(RECORDS)[:2]
    batch = VideoSFTCollator(tokenizer, preset=PRESET)(records)
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == labels.shape == batch["attention_mask"].shape == batch["mm_token_type_ids"].shape
    video_pad = tokenizer.convert_tokens_to_ids("<|video_pad|>")
    grid = batch["video_grid_thw"]
    assert grid.shape == (2, 3) and batch["second_per_grid_ts"].shape == (2,)
    assert int(grid.prod(-1).sum()) == batch["pixel_values_videos"].shape[0]
    assert (
        int((ids == video_pad).sum())
        == int(grid.prod(-1).sum()) // 4
        == int((batch["mm_token_type_ids"] == 2).sum())
    )
    for i, record in enumerate(records):
        target = labels[i][labels[i] != IGNORE_INDEX]
        assert tokenizer.decode(target) == record.target + "<|im_end|>"
        prompt = tokenizer.decode(ids[i][batch["attention_mask"][i].bool()][: -len(target)])
        assert SYSTEM_PROMPT in prompt and record.problem in prompt
        assert prompt.endswith("<|im_start|>assistant\n")
        assert not (labels[i][ids[i] == video_pad] != IGNORE_INDEX).any()


def test_collator_max_length_cuts_the_target_never_the_video(tokenizer: Any) -> None:
    record = read_records(RECORDS)[0]
    full = VideoSFTCollator(tokenizer, preset=PRESET)([record])
    prompt_len = int((full["labels"][0] == IGNORE_INDEX).sum())
    cut = VideoSFTCollator(tokenizer, preset=PRESET, max_length=prompt_len + 5)([record])
    assert cut["input_ids"].shape[1] == prompt_len + 5
    assert int((cut["labels"] != IGNORE_INDEX).sum()) == 5
    with pytest.raises(TrainingError, match="max_length"):
        VideoSFTCollator(tokenizer, preset=PRESET, max_length=prompt_len - 1)([record])


def test_sft_loss_falls_vision_tower_in_loss_and_checkpoint_answers(tiny: Path, tmp_path: Path) -> None:
    from vt_agent.training.sft import run_sft

    probes: list[VisionProbe] = []
    result = run_sft(
        _config(tiny, tmp_path / "run", max_steps=6, learning_rate=2e-3), callbacks=[_callback(probes)]
    )
    losses = result.losses()
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0] - 0.5, losses
    (probe,) = probes
    assert probe.loss_forwards == 6  # one loss forward per step, each through the vision tower
    assert len(probe.grad_norms) == 6 and all(g > 0 for g in probe.grad_norms)
    final = Path(result.checkpoint)
    assert (final / "model.safetensors").is_file() and (tmp_path / "run" / "train_summary.json").is_file()

    from vt_agent.backends.base import GenerationRequest
    from vt_agent.backends.transformers_backend import TransformersBackend
    from vt_agent.prompts import build_messages, build_question
    from vt_agent.video import sample

    record = read_records(RECORDS)[0]
    backend = TransformersBackend(final, device="cpu")
    request = GenerationRequest(
        messages=build_messages(build_question(record.problem, record.options)),
        videos=[sample(record.video, "video-thinker-16f")],
        max_tokens=8,
    )

    async def collect() -> list[Any]:
        return [d async for d in backend.stream(request)]

    deltas = asyncio.run(collect())
    backend.close_sync()
    assert deltas[-1].finish_reason in {"stop", "length"}
    assert backend.last_stats is not None and backend.last_stats.video_tokens == 960


def test_sft_trainer_refuses_a_batch_without_its_video(tiny: Path, tokenizer: Any, tmp_path: Path) -> None:
    import datasets
    import trl
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vt_agent.training.collate import dataset_rows
    from vt_agent.training.trl_video import sft_trainer_class

    records = read_records(RECORDS)[:1]
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny)
    args = trl.SFTConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        report_to="none",
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,
    )
    collator = VideoSFTCollator(tokenizer, preset=PRESET)
    trainer = sft_trainer_class()(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(dataset_rows(records)),
        processing_class=tokenizer,
        data_collator=collator,
    )
    batch = collator(records)
    dropped = {k: v for k, v in batch.items() if k != "pixel_values_videos"}
    with pytest.raises(TrainingError, match="dropped from the loss forward"):
        trainer.compute_loss(model, dropped)
    loss = trainer.compute_loss(model, dict(batch))
    assert math.isfinite(float(loss.detach()))
