"""A tiny random-weight Qwen2.5-VL checkpoint, built locally and cached on disk.

It has the real architecture (M-RoPE, window-attention ViT, 2x2 patch merger), the real Qwen2.5-VL
chat template, Qwen's special and vision tokens and the processor settings of the Video-Thinker
protocol (16 frames, 128*28*28 pixels), but about 0.7 M random parameters: its output is noise.
It exists so that tests and demos can drive the real engines (transformers, vLLM) end to end
without downloading a 7B model.

Layout (standard Hugging Face, loadable by ``from_pretrained`` and by vLLM): ``config.json``,
``model.safetensors``, ``generation_config.json``, ``tokenizer.json``, ``tokenizer_config.json``,
``chat_template.jinja``, ``preprocessor_config.json``, ``video_preprocessor_config.json`` and
``vt_agent_tiny.json`` (what this is, written last: its presence marks a complete build).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from vt_agent._lazy import require
from vt_agent.errors import ConfigError

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "MARKER",
    "NOTICE",
    "PIXELS",
    "QWEN2_SPLIT_PATTERN",
    "QWEN25_VL_CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "TEXT_CONFIG",
    "TINY_VERSION",
    "VISION_CONFIG",
    "VOCAB_SIZE",
    "build_tiny_checkpoint",
    "default_tiny_dir",
    "is_tiny_checkpoint",
    "training_corpus",
]

TINY_VERSION = "1"
MARKER = "vt_agent_tiny.json"
NOTICE = "tiny random-weight Qwen2.5-VL for tests and demos: its output is noise, not Video-Thinker"

# Qwen's special and vision tokens; in the tiny vocabulary they take ids 0..7 in this order.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# The chat template shipped with Qwen/Qwen2.5-VL-7B-Instruct (and so with Video-Thinker-7B),
# verbatim. A video entry is any content item with type "video" or a "video" key.
QWEN25_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen2's pre-tokenizer split (digits one by one, words with their leading space).
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

VOCAB_SIZE = 1024
PIXELS = 128 * 28 * 28  # the Video-Thinker protocol: min_pixels = max_pixels
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,  # head_dim 64: the smallest vLLM's CPU attention accepts is 32
    "num_key_value_heads": 1,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [8, 12, 12]},
}
VISION_CONFIG: dict[str, Any] = {
    "depth": 2,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_heads": 2,
    "out_hidden_size": 128,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [1],
    "tokens_per_second": 2,
}


def default_tiny_dir(seed: int = 0, cache_home: str | Path | None = None) -> Path:
    """Where the tiny checkpoint is cached: ``<cache_home>/vt-agent/tiny-qwen2.5-vl-v<version>``.

    ``cache_home`` defaults to ``$XDG_CACHE_HOME`` or ``~/.cache``.
    """
    if cache_home is None:
        cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    name = f"tiny-qwen2.5-vl-v{TINY_VERSION}" + (f"-seed{seed}" if seed else "")
    return Path(cache_home).expanduser() / "vt-agent" / name


def is_tiny_checkpoint(path: str | Path) -> bool:
    """True if ``path`` holds a complete tiny checkpoint built by this module."""
    marker = Path(path) / MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("version") == TINY_VERSION


def build_tiny_checkpoint(out_dir: str | Path | None = None, *, seed: int = 0, force: bool = False) -> Path:
    """Build (or reuse) the tiny random checkpoint and return its directory.

    A complete checkpoint already at ``out_dir`` is reused unless ``force``. The build goes to a
    temporary sibling directory renamed into place, so concurrent builders never see half a
    checkpoint: the first rename wins, the others discard their copy.
    """
    out = Path(out_dir).expanduser() if out_dir is not None else default_tiny_dir(seed)
    if not force and is_tiny_checkpoint(out):
        return out
    if not force and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(
            f"{out} exists and is not a tiny vt-agent checkpoint; choose another directory, remove it, "
            "or pass force=True to replace it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _write_checkpoint(tmp, seed)
        _make_readable(tmp)
        if force and out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, trash / "old")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, out)
        except OSError:
            # another process renamed its build in first (the target is a non-empty directory)
            if not is_tiny_checkpoint(out):
                raise ConfigError(f"could not move the tiny checkpoint into place at {out}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def training_corpus() -> list[str]:
    """Text the tiny tokenizer is trained on: the real prompt and realistic Video-Thinker traces."""
    data = resources.files("vt_agent") / "data"
    system = (data / "system_prompt.txt").read_text(encoding="utf-8")
    user = (data / "user_template.txt").read_text(encoding="utf-8")
    questions = [
        "What is the relationship between the woman and the man in the video?\nOptions:\n"
        "A. Strangers\nB. Mother and son\nC. Colleagues\nD. Friends\n",
        "What does the rabbit do after the butterfly lands?\nOptions:\nA. It smiles\n"
        "B. It runs away\nC. It falls asleep\nD. It eats an apple\n",
        "How many cars pass through the intersection?\nOptions:\nA. 2\nB. 4\nC. 6\nD. 8\nE. 10\n",
        "Why does the person open the door at 1:12?",
    ]
    corpus = [system, *(user.format(Question=q) for q in questions)]
    for k in range(48):
        a, b, c = 5 * k % 60, (5 * k + 15) % 60, (5 * k + 30) % 60
        m = k % 10
        letter = "ABCDEF"[k % 6]
        corpus.append(
            f"Let me think about the video. <time>{m:02d}:{a:02d}-{m:02d}:{b:02d}</time>"
            f"<caption>A large rabbit stands in a green meadow and watches a butterfly.</caption>"
            f"<think>Hmm, the rabbit looks calm here, so it is probably not scared.</think>"
            f"\nHmm, let's see what happens next...\n<time>{m:02d}:{b:02d}-{m + 1:02d}:{c:02d}</time>"
            f"<caption>The person walks to the door and opens it; cars pass in the street.</caption>"
            f"<think>Wait, this suggests that the man is leaving. Oh, I see, option {letter} fits.</think>"
            f"\nLet's break it down. Option A does not match the video. Option {letter} is consistent "
            f"with what I observed.\n<answer>{letter}</answer>"
        )
        corpus.append(f"<time>{k / 2:.1f}-{k / 2 + 5:.1f} seconds</time> {k}s {1000 + 37 * k}")
    return corpus


def _write_checkpoint(out: Path, seed: int) -> None:
    tok = _build_tokenizer(out)
    ids = {t: int(tok.convert_tokens_to_ids(t)) for t in SPECIAL_TOKENS}
    _build_model(out, ids, vocab_size=len(tok), seed=seed)
    _write_json(
        out / "preprocessor_config.json",
        {
            "image_processor_type": "Qwen2VLImageProcessor",
            "processor_class": "Qwen2_5_VLProcessor",
            **_vision_processor_fields(),
        },
    )
    _write_json(
        out / "video_preprocessor_config.json",
        {
            "video_processor_type": "Qwen2VLVideoProcessor",
            "processor_class": "Qwen2_5_VLProcessor",
            "do_sample_frames": False,
            **_vision_processor_fields(),
        },
    )
    _write_json(
        out / MARKER,
        {"version": TINY_VERSION, "seed": seed, "notice": NOTICE, "vocab_size": len(tok)},
    )


def _vision_processor_fields() -> dict[str, Any]:
    return {
        "min_pixels": PIXELS,
        "max_pixels": PIXELS,
        "size": {"shortest_edge": PIXELS, "longest_edge": PIXELS},
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": CLIP_MEAN,
        "image_std": CLIP_STD,
        "do_resize": True,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "do_convert_rgb": True,
        "resample": 3,
    }


def _build_tokenizer(out: Path) -> Any:
    tk = require("tokenizers", "hf", "Building the tiny test checkpoint")
    tf = require("transformers", "hf", "Building the tiny test checkpoint")
    tok = tk.Tokenizer(tk.models.BPE())
    tok.normalizer = tk.normalizers.NFC()
    tok.pre_tokenizer = tk.pre_tokenizers.Sequence(
        [
            tk.pre_tokenizers.Split(tk.Regex(QWEN2_SPLIT_PATTERN), behavior="isolated"),
            tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = tk.decoders.ByteLevel()
    tok.post_processor = tk.processors.ByteLevel(trim_offsets=False)
    trainer = tk.trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(training_corpus(), trainer)
    fast = tf.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=QWEN25_VL_CHAT_TEMPLATE,
        model_max_length=TEXT_CONFIG["max_position_embeddings"],
        clean_up_tokenization_spaces=False,
    )
    fast.padding_side = "left"
    fast.save_pretrained(str(out))
    return fast


def _build_model(out: Path, ids: dict[str, int], *, vocab_size: int, seed: int) -> None:
    torch = require("torch", "hf", "Building the tiny test checkpoint")
    tf = require("transformers", "hf", "Building the tiny test checkpoint")
    pad, eos = ids["<|endoftext|>"], ids["<|im_end|>"]
    cfg = tf.Qwen2_5_VLConfig(
        text_config={
            **TEXT_CONFIG,
            "vocab_size": vocab_size,
            "bos_token_id": pad,
            "eos_token_id": eos,
            "pad_token_id": pad,
        },
        vision_config=dict(VISION_CONFIG),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = tf.Qwen2_5_VLForConditionalGeneration(cfg)
    # The released Qwen2.5-VL-7B-Instruct generation defaults, with the tiny token ids.
    model.generation_config = tf.GenerationConfig(
        bos_token_id=pad,
        pad_token_id=pad,
        eos_token_id=[eos, pad],
        do_sample=True,
        temperature=0.1,
        top_p=0.001,
        top_k=1,
        repetition_penalty=1.05,
    )
    model.save_pretrained(str(out))


def _make_readable(root: Path) -> None:
    """mkdtemp makes a private directory; a cache shared by test processes should be readable."""
    root.chmod(0o755)
    for f in root.iterdir():
        f.chmod(0o644)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
