"""Answers from a local transformers model, for ``skillforge eval --model``.

The model (a folder written by ``skillforge train``, or any causal LM that
transformers loads) gets each instance's single-turn prompt, through the chat
template when its tokenizer has one, else as plain text.
"""

from __future__ import annotations

from pathlib import Path

from skillforge.schema import Instance
from skillforge.train.data import render_prompt


def load_policy(model_path: str | Path, *, device: str | None = None):
    """(model, tokenizer) in eval mode, left padding, a pad token set."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype="auto").to(device)
    model.eval()
    return model, tokenizer


def encode_prompts(tokenizer, instances: list[Instance]) -> list[list[int]]:
    if getattr(tokenizer, "chat_template", None):
        out = []
        for inst in instances:
            enc = tokenizer.apply_chat_template(render_prompt(inst, conversational=True), add_generation_prompt=True,
                                                tokenize=True, return_dict=True)
            out.append(list(enc["input_ids"]))
        return out
    return [list(tokenizer(render_prompt(inst, conversational=False))["input_ids"]) for inst in instances]


def max_new_tokens_for(model_path: str | Path, default: int = 1024) -> int:
    """The completion budget the model was trained with (``skillforge_train.json``), else ``default``."""
    import json

    record = Path(model_path) / "skillforge_train.json"
    try:
        return int(json.loads(record.read_text())["config"]["max_completion_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return default


def generate_answers(model_path: str | Path, instances: list[Instance], *, k: int = 1, max_new_tokens: int | None = None,
                     seed: int = 0, do_sample: bool | None = None, temperature: float = 1.0, top_p: float = 1.0,
                     batch_size: int = 8, device: str | None = None) -> dict[str, list[str]]:
    """``k`` answers per instance, ``{instance_id: [answer, ...]}``. Greedy for
    ``k == 1`` unless ``do_sample``; sampling (temperature, top_p, no top-k, as
    in GRPO training) otherwise. Seeded: the same call gives the same answers.
    ``max_new_tokens`` defaults to the model's training budget (1024 if unknown)."""
    import torch
    from transformers import GenerationConfig

    if k < 1:
        raise ValueError("k must be at least 1")
    if max_new_tokens is None:
        max_new_tokens = max_new_tokens_for(model_path)
    model, tokenizer = load_policy(model_path, device=device)
    sample = (k > 1) if do_sample is None else do_sample
    eos = [t for t in {tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)}
           if isinstance(t, int)]
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=sample, pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=eos or None,
                              **({"temperature": temperature, "top_p": top_p, "top_k": 0} if sample else {}))
    prompts = encode_prompts(tokenizer, instances)
    answers: dict[str, list[str]] = {inst.instance_id: [] for inst in instances}
    jobs = [(inst.instance_id, ids) for inst, ids in zip(instances, prompts) for _ in range(k)]
    torch.manual_seed(seed)
    with torch.no_grad():
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            width = max(len(ids) for _, ids in chunk)
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (_, ids) in enumerate(chunk):
                input_ids[row, width - len(ids):] = torch.tensor(ids)
                mask[row, width - len(ids):] = 1
            output = model.generate(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device),
                                    generation_config=config)
            for row, (iid, _) in enumerate(chunk):
                answers[iid].append(tokenizer.decode(output[row, width:], skip_special_tokens=True))
    return answers
