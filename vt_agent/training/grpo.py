"""GRPO on video prompts on top of TRL (``vt-agent train grpo --config FILE``).

Defaults are the paper's (docs/protocol.md, Training recipe): beta 0.04, lr 5e-6, batch 8, 2,500 steps, max grad
norm 5, 16 frames x 128*28*28, reward = accuracy (exact letter) + format
(:mod:`vt_agent.training.rewards`), optionally + grounding IoU. Rollouts run with transformers
``generate`` on the video; the video also reaches every log-prob forward of the loss
(:func:`~vt_agent.training.trl_video.grpo_trainer_class`).

vLLM rollouts: TRL's vLLM generation takes images only, and TRL 1.16 accepts vLLM 0.22-0.31
while this project targets vLLM 0.32, so ``use_vllm: true`` is refused with a message saying so.
"""

from __future__ import annotations

import time
from typing import Any

from vt_agent._lazy import require
from vt_agent.errors import ConfigError
from vt_agent.training.collate import FEATURE
from vt_agent.training.rewards import reward_functions
from vt_agent.training.sft import (
    TrainResult,
    common_trl_args,
    load_model_and_tokenizer,
    peft_config,
    train_and_save,
    training_dataset,
)
from vt_agent.training.train_config import TrainConfig

__all__ = ["run_grpo"]


def run_grpo(cfg: TrainConfig, *, callbacks: list[Any] | None = None) -> TrainResult:
    """Run GRPO as ``cfg`` says and save the final checkpoint; returns the run's summary."""
    trl = require("trl", "train", FEATURE)
    from vt_agent.training.trl_video import grpo_trainer_class

    if cfg.kind != "grpo":
        raise ConfigError(f"run_grpo got a '{cfg.kind}' config")
    settings = cfg.grpo()
    if settings.use_vllm:
        raise ConfigError(
            "use_vllm: true is not supported for video GRPO: TRL's vLLM generation passes images only and "
            f"TRL {trl.__version__} accepts vLLM 0.22-0.31 (vt-agent uses 0.32); set use_vllm: false"
        )
    if settings.reward_weights is not None and len(settings.reward_weights) != len(settings.rewards):
        raise ConfigError(
            f"reward_weights has {len(settings.reward_weights)} weights for {len(settings.rewards)} rewards"
        )
    started = time.perf_counter()
    model, tokenizer, source = load_model_and_tokenizer(cfg, settings)
    dataset, n = training_dataset(cfg)
    extra: dict[str, Any] = {}
    if settings.reward_weights is not None:
        extra["reward_weights"] = settings.reward_weights
    args = trl.GRPOConfig(
        **common_trl_args(cfg, settings),
        beta=settings.beta,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        use_vllm=False,
        **extra,
    )
    trainer = grpo_trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        reward_funcs=reward_functions(settings.rewards),
        peft_config=peft_config(cfg),
        callbacks=callbacks,
        video_preset=cfg.data.resolved_preset(),
    )
    return train_and_save("grpo", trainer, tokenizer, source, cfg, n, started)
