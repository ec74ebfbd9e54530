"""A tiny causal language model and a tokenizer trained on the spot, for smoke
runs and tests: nothing is downloaded.

The tokenizer is a byte-level BPE learned from the texts it is given (the
prompts and gold answers of a dataset), with the Qwen2.5 chat template (as TRL
ships it, so TRL recognises it for tool calling) and its special tokens. Its
vocabulary is small (300 by default) and whole answer units
(``<judgment>YES</judgment>``, file paths) are single tokens, so that a random
model finds them by sampling within a few dozen GRPO steps. The model is a
Qwen2 architecture with random weights (hidden size 64, two layers, about 70k
parameters by default) whose token embeddings share one common component (see
``shared_embedding``), so that what it learns to emit at one position carries
over to the others.

    from skillforge.train.tiny import build_tiny_model
    build_tiny_model("out/tiny", texts, answer_tokens=["<judgment>YES</judgment>"])
    # AutoModelForCausalLM.from_pretrained("out/tiny") and AutoTokenizer.from_pretrained("out/tiny") load it

``skillforge train`` builds one when the config says ``model: tiny``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from skillforge.schema import Instance

IM_START, IM_END, ENDOFTEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
# tokens the Qwen2.5 template writes around tool calls: whole tokens, as in Qwen's own vocabulary
TOOL_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<tools>", "</tools>"]
MARKER = "tiny_model.json"

_SIMPLE_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def chat_template() -> str:
    """TRL's copy of the Qwen2.5 template (tool calling, response parsing); a plain
    ChatML template when TRL is not installed."""
    try:
        from trl.chat_template_utils import qwen2_5_chat_template
    except ImportError:
        return _SIMPLE_TEMPLATE
    return qwen2_5_chat_template


def answer_vocabulary(instances: Iterable[Instance]) -> list[str]:
    """Whole answer units worth a single token: review verdicts and the files a
    localization answer names (those of the file listings included)."""
    from skillforge.skills.review import judgment

    units: list[str] = []
    seen: set[str] = set()

    def add(s: str) -> None:
        if s and s not in seen:
            seen.add(s)
            units.append(s)

    for inst in instances:
        if inst.skill == "review":
            add(judgment("YES"))
            add(judgment("NO"))
        elif inst.skill == "localization":
            for path in [*getattr(inst, "gold_files", []), *getattr(inst, "repo_files", [])]:
                add(path)
    return units


def build_tiny_model(out: str | Path, texts: Iterable[str], *, answer_tokens: Iterable[str] = (),
                     vocab_size: int = 300, hidden_size: int = 64, intermediate_size: int = 128,
                     num_layers: int = 2, num_heads: int = 4, max_positions: int = 8192, seed: int = 0,
                     shared_embedding: float = 3.0) -> Path:
    """Train a byte-level BPE tokenizer on ``texts``, build a random Qwen2 model
    around it and save both to ``out`` (loadable by path with transformers)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("build_tiny_model needs at least one text to train its tokenizer on")

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer)

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=IM_END, pad_token=ENDOFTEXT,
                                        additional_special_tokens=[IM_START])
    tokenizer.add_tokens(TOOL_TOKENS + [t for t in answer_tokens if t])
    tokenizer.chat_template = chat_template()
    tokenizer.padding_side = "left"
    tokenizer.model_max_length = max_positions

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=max_positions, tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids(IM_START),
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    if shared_embedding:
        # Every token embedding gets one common component (``shared_embedding`` times a token's own
        # norm): the hidden state at every position then shares a direction, so what the policy
        # learns to emit at one position carries over to the others (a random model otherwise
        # conditions almost only on the previous token). The untrained model's output stays near flat.
        with torch.no_grad():
            weight = model.get_input_embeddings().weight
            common = torch.randn(hidden_size)
            common *= weight.norm(dim=1).mean() * shared_embedding / common.norm()
            weight += common
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MARKER).write_text(json.dumps({
        "built_by": "skillforge.train.tiny", "vocab_size": len(tokenizer), "hidden_size": hidden_size,
        "num_layers": num_layers, "parameters": sum(p.numel() for p in model.parameters()), "seed": seed,
        "answer_tokens": len(list(answer_tokens)),
    }, indent=2))
    return out


def build_tiny_model_for(out: str | Path, instances: list[Instance], *, seed: int = 0, **kw) -> Path:
    """The tiny model for a dataset: tokenizer trained on its prompts and gold answers."""
    from skillforge.skills import REGISTRY

    texts = []
    for inst in instances:
        texts.append(REGISTRY[inst.skill].prompt(inst))
        texts.append(inst.answer)
    return build_tiny_model(out, texts, answer_tokens=answer_vocabulary(instances), seed=seed, **kw)
