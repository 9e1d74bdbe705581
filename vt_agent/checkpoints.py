"""Facts about a model folder that need no engine: its rough parameter count from config.json."""

from __future__ import annotations

from typing import Any

__all__ = ["CPU_PARAM_LIMIT", "estimate_parameters"]

CPU_PARAM_LIMIT = 1_000_000_000  # above this, the CPU is refused unless forced


def estimate_parameters(config: Any) -> int:
    """Rough parameter count of a Qwen2.5-VL config (language model + vision tower)."""
    text = config.get_text_config()
    h, layers, inter = int(text.hidden_size), int(text.num_hidden_layers), int(text.intermediate_size)
    heads = int(text.num_attention_heads)
    kv = int(getattr(text, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text, "head_dim", None) or h // heads)
    per_layer = 2 * h * heads * head_dim + 2 * h * kv * head_dim + 3 * h * inter
    embeddings = int(text.vocab_size) * h * (1 if getattr(config, "tie_word_embeddings", False) else 2)
    vision = getattr(config, "vision_config", None)
    vis = 0
    if vision is not None:
        vh, vi, depth = int(vision.hidden_size), int(vision.intermediate_size), int(vision.depth)
        vis = depth * (4 * vh * vh + 3 * vh * vi) + 4 * vh * vh * 4 + 4 * vh * int(vision.out_hidden_size)
    return embeddings + layers * per_layer + vis
