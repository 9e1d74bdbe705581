"""Video GRPO on the tiny random Qwen2.5-VL and the real bundled clips (CPU): one step, video in the loss."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from vt_agent.errors import ConfigError  # noqa: E402
from vt_agent.tiny import build_tiny_checkpoint  # noqa: E402
from vt_agent.training.collate import TrainingError, dataset_rows  # noqa: E402
from vt_agent.training.rewards import accuracy_reward, format_reward  # noqa: E402
from vt_agent.training.schema import read_records  # noqa: E402
from vt_agent.training.train_config import TrainConfig  # noqa: E402
from vt_agent.video import make_preset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "examples" / "configs" / "tiny-train.jsonl"
PRESET = make_preset(name="test-4f", num_frames=4, min_pixels=32 * 28 * 28, max_pixels=32 * 28 * 28)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")


def distinct_chars(completions: list[str], **_: Any) -> list[float]:
    """A reward that differs between sampled completions, so advantages (and gradients) are non-zero."""
    return [len(set(c)) / 10.0 for c in completions]


def test_grpo_step_logs_rewards_and_kl_and_trains_the_vision_tower_on_video(
    tiny: Path, tmp_path: Path
) -> None:
    import datasets
    import trl
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    from vt_agent.training.trl_video import grpo_trainer_class

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny, attn_implementation="eager")
    grad_forwards, no_grad_forwards, grad_norms = [0], [0], []

    def on_forward(module: Any, args: Any, output: Any) -> None:
        (grad_forwards if torch.is_grad_enabled() else no_grad_forwards)[0] += 1

    model.model.visual.register_forward_hook(on_forward)
    next(model.model.visual.parameters()).register_hook(lambda g: grad_norms.append(float(g.norm())))
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        learning_rate=5e-6,
        beta=0.04,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        seed=3,
    )
    records = read_records(RECORDS)[:1]
    trainer = grpo_trainer_class()(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(dataset_rows(records)),
        processing_class=tokenizer,
        reward_funcs=[accuracy_reward, format_reward, distinct_chars],
        video_preset=PRESET,
    )
    trainer.train()
    logs = trainer.state.log_history[0]
    for key in (
        "kl",
        "reward",
        "rewards/accuracy_reward/mean",
        "rewards/format_reward/mean",
        "rewards/distinct_chars/mean",
        "entropy",
    ):
        assert key in logs and math.isfinite(logs[key]), (key, logs)
    assert logs["reward_std"] > 0
    # the policy's vision tower ran in generation (no grad) and in the loss forward (grad), with gradients;
    # the reference model's log-probs also had the video (counted by the trainer's own forward counter)
    assert no_grad_forwards[0] >= 1 and grad_forwards[0] == 1
    assert len(grad_norms) == 1 and grad_norms[0] > 0
    assert trainer._video_forward_calls == 2  # reference + policy log-prob forwards


def test_grpo_loss_refuses_a_batch_without_video(tiny: Path, tmp_path: Path) -> None:
    import datasets
    import trl
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    from vt_agent.training.trl_video import grpo_trainer_class

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny)
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_generations=2,
        use_cpu=True,
        report_to="none",
        beta=0.0,
    )
    trainer = grpo_trainer_class()(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(dataset_rows(read_records(RECORDS))),
        processing_class=tokenizer,
        reward_funcs=[format_reward],
        video_preset=PRESET,
    )
    ids = torch.ones((2, 4), dtype=torch.long)
    with pytest.raises(TrainingError, match="video"):
        trainer._compute_loss(
            model,
            {
                "prompt_ids": ids,
                "prompt_mask": ids,
                "completion_ids": ids,
                "completion_mask": ids,
                "advantages": torch.zeros(2),
            },
        )


def test_grpo_refuses_vllm_rollouts(tmp_path: Path) -> None:
    from vt_agent.training.grpo import run_grpo

    cfg = TrainConfig.model_validate(
        {
            "kind": "grpo",
            "output_dir": tmp_path,
            "model": {"name_or_path": "tiny"},
            "data": {"train_file": RECORDS},
            "train": {"use_vllm": True},
        }
    )
    with pytest.raises(ConfigError, match="vLLM"):
        run_grpo(cfg)
