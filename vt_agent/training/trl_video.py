"""TRL trainers that keep the video in the loss forward.

Stock TRL (1.16) silently drops video from the forward that computes the loss: ``SFTTrainer``
only turns ``image``/``images`` columns into pixels, and ``GRPOTrainer`` hands
``pixel_values_videos`` to ``generate`` but never to the log-prob forwards (policy, old policy,
reference) that the loss is made of (ENVIRONMENT.md §6). The vision tower then never runs in the
loss and the model learns from ``<|video_pad|>`` embeddings alone.

* :class:`VideoSFTTrainer` feeds batches from :class:`~vt_agent.training.collate.VideoSFTCollator`
  (our preprocessing) and refuses any batch whose ``input_ids`` hold video tokens without
  ``pixel_values_videos`` (a silent drop becomes an error).
* :class:`VideoGRPOTrainer` encodes each prompt itself (exact prompt, our video inputs), generates
  with the video, carries the per-sample video tensors through TRL's shuffling and splitting as
  ``video_inputs`` and passes ``pixel_values_videos``, ``video_grid_thw``,
  ``second_per_grid_ts`` and ``mm_token_type_ids`` to every log-prob forward (current, old and
  reference policy). Dataset rows are training records plus TRL's ``prompt`` column (the
  ``{Question}`` text).

Both classes are built on first use (:func:`sft_trainer_class`, :func:`grpo_trainer_class`) so
that importing this module stays light.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from vt_agent._lazy import require
from vt_agent.training.collate import (
    FEATURE,
    VIDEO_PAD,
    EncodedPrompt,
    TrainingError,
    encode_prompt,
    record_from_row,
)
from vt_agent.video.presets import DEFAULT_PRESET

__all__ = ["check_video_batch", "grpo_trainer_class", "sft_trainer_class"]

VIDEO_KEYS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")


def check_video_batch(inputs: dict[str, Any], video_pad_id: int) -> None:
    """Raise :class:`TrainingError` when ``input_ids`` hold video tokens but the video tensors are missing
    or do not match them (patches per grid, tokens per sample)."""
    ids = inputs.get("input_ids")
    if ids is None:
        return
    n_tokens = int((ids == video_pad_id).sum())
    if n_tokens == 0:
        return
    missing = [k for k in ("pixel_values_videos", "video_grid_thw") if inputs.get(k) is None]
    if missing:
        raise TrainingError(
            f"a training batch holds {n_tokens} video tokens but no {', '.join(missing)}: the video would be "
            "dropped from the loss forward. Build batches with vt_agent.training.collate.VideoSFTCollator"
        )
    grid = inputs["video_grid_thw"]
    patches = int(grid.prod(dim=-1).sum())
    if patches != int(inputs["pixel_values_videos"].shape[0]):
        raise TrainingError(
            f"pixel_values_videos has {int(inputs['pixel_values_videos'].shape[0])} patch rows but video_grid_thw "
            f"asks for {patches}"
        )
    if patches // 4 != n_tokens:
        raise TrainingError(f"the batch has {n_tokens} video tokens but its video grids give {patches // 4}")


@functools.cache
def sft_trainer_class() -> type:
    """``VideoSFTTrainer``: TRL's ``SFTTrainer`` that checks every batch keeps its video."""
    trl = require("trl", "train", FEATURE)

    class VideoSFTTrainer(trl.SFTTrainer):  # type: ignore[misc, name-defined]
        """SFT on video: batches come from ``VideoSFTCollator``; a batch that lost its video is an error."""

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            check_video_batch(inputs, _video_pad_id(self.processing_class))
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )

    return VideoSFTTrainer


@functools.cache
def grpo_trainer_class() -> type:
    """``VideoGRPOTrainer``: TRL's ``GRPOTrainer`` with video in generation and in every log-prob forward."""
    trl = require("trl", "train", FEATURE)
    torch = require("torch", "train", FEATURE)

    class VideoGRPOTrainer(trl.GRPOTrainer):  # type: ignore[misc, name-defined]
        """GRPO on video prompts (see the module docstring).

        ``processing_class`` must be the tokenizer (not a processor): prompts are tokenized here,
        so TRL's image path stays off. ``video_preset`` picks the sampling preset.
        """

        def __init__(self, *args: Any, video_preset: Any = DEFAULT_PRESET, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self.use_vllm:
                raise TrainingError(
                    "vLLM rollouts are not wired for video: TRL's vLLM generation passes images only, and TRL "
                    f"{trl.__version__} supports vLLM 0.22-0.31 while vt-agent targets vLLM 0.32. Set use_vllm: false "
                    "(rollouts then run with transformers generate, video included)"
                )
            self.video_preset = video_preset
            self._video_pad_id = _video_pad_id(self._tokenizer)
            self._video_batch: list[EncodedPrompt] | None = None
            self._video_forward_calls = 0

        # -- generation ------------------------------------------------------------------------

        def _encode_rows(self, rows: Sequence[dict[str, Any]]) -> list[EncodedPrompt]:
            out = []
            for row in rows:
                record = record_from_row(row)
                out.append(
                    encode_prompt(self._tokenizer, record.video, record.question_text, self.video_preset)
                )
            return out

        def _tokenize_prompts(self, prompts: list[Any]) -> tuple[list[list[int]], None, dict[str, Any]]:
            batch = self._video_batch
            if batch is None or len(batch) != len(prompts):
                raise TrainingError(
                    "VideoGRPOTrainer tokenizes prompts only inside _generate_and_score_completions "
                    f"({0 if batch is None else len(batch)} encoded videos for {len(prompts)} prompts)"
                )
            fields: dict[str, Any] = {
                "mm_token_type_ids": [p.mm_token_type_ids.tolist() for p in batch],
                **_video_tensors(torch, batch),
            }
            return [p.input_ids.tolist() for p in batch], None, fields

        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            batch = self._encode_rows(inputs)
            self._video_batch = batch
            try:
                output: dict[str, Any] = super()._generate_and_score_completions(inputs)
            finally:
                self._video_batch = None
            # one entry per sample, so that TRL's shuffle/split keeps each video with its rows
            output["video_inputs"] = batch
            return output

        # -- loss --------------------------------------------------------------------------------

        def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> Any:
            batch = inputs.get("video_inputs")
            if batch is None:
                raise TrainingError(
                    "a GRPO batch reached the loss without its video_inputs: the video would be dropped"
                )
            self._video_batch = list(batch)
            try:
                return super()._compute_loss(model, inputs)
            finally:
                self._video_batch = None

        def _get_per_token_logps_and_entropies(
            self,
            model: Any,
            input_ids: Any,
            attention_mask: Any,
            logits_to_keep: int,
            batch_size: int | None = None,
            compute_entropy: bool = False,
            compute_aux_loss: bool = False,
            **kwargs: Any,
        ) -> tuple[Any, Any, Any]:
            batch = self._video_batch
            if batch is None:
                raise TrainingError("a log-prob forward was asked for without the batch's videos")
            if len(batch) != input_ids.size(0):
                raise TrainingError(
                    f"{len(batch)} videos for {input_ids.size(0)} sequences in a log-prob forward"
                )
            batch_size = batch_size or input_ids.size(0)
            all_logps, all_entropies, all_aux = [], [], []
            device = input_ids.device
            for start in range(0, input_ids.size(0), batch_size):
                end = min(start + batch_size, input_ids.size(0))
                ids = input_ids[start:end]
                mask = attention_mask[start:end]
                model_inputs: dict[str, Any] = {
                    "input_ids": ids,
                    "attention_mask": mask,
                    "mm_token_type_ids": (ids == self._video_pad_id).long() * 2,
                }
                for key, value in _video_tensors(torch, batch[start:end]).items():
                    model_inputs[key] = value.to(device)
                check_video_batch(model_inputs, self._video_pad_id)
                if compute_aux_loss:
                    model_inputs["output_router_logits"] = True
                labels = ids.masked_fill(mask == 0, -100)
                labels[:, :-logits_to_keep] = -100
                self._video_forward_calls += 1
                with self.accelerator.autocast():
                    outputs = model(**model_inputs, labels=labels, fused_lm_head=True)
                all_logps.append(outputs.log_probs[:, -logits_to_keep:])
                if compute_entropy:
                    all_entropies.append(outputs.entropy[:, -logits_to_keep:])
                if compute_aux_loss:
                    all_aux.append(outputs.aux_loss)
            logps = torch.cat(all_logps, dim=0)
            entropies = torch.cat(all_entropies, dim=0) if compute_entropy else None
            aux = torch.stack(all_aux).mean() if compute_aux_loss else None
            return logps, entropies, aux

    return VideoGRPOTrainer


def _video_tensors(torch: Any, batch: Sequence[EncodedPrompt]) -> dict[str, Any]:
    from vt_agent.training.collate import video_tensors

    return video_tensors(batch)


def _video_pad_id(tokenizer: Any) -> int:
    tok = getattr(tokenizer, "tokenizer", tokenizer)  # a processor holds its tokenizer
    tid = tok.convert_tokens_to_ids(VIDEO_PAD)
    if tid is None or tid == getattr(tok, "unk_token_id", None):
        raise TrainingError(f"the tokenizer has no {VIDEO_PAD} token: not a Qwen2.5-VL tokenizer")
    return int(tid)
