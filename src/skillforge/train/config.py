"""``TrainConfig``: every setting of ``skillforge train``, with its help text.

Like TRL's configs, one dataclass: a YAML file sets values, and every field is
also a command-line flag (``--num-generations 8``) that overrides the file.
Lists are written comma-separated on the command line (``--skills
review,localization``) and mappings as ``key=value`` pairs (``--mix
review=2,localization=1``). Fields of TRL's ``GRPOConfig`` that have no field
here go under ``grpo:`` in the YAML file and are passed through unchanged.

This module imports nothing heavy: the CLI builds its flags from it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from skillforge.schema import SKILLS

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
SCALE_REWARDS = ("group", "batch", "none")
MODES = ("single_turn", "agentic")


class ConfigError(ValueError):
    pass


def _f(default: Any, help: str, **kw) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    # ------------------------------------------------------------------ model and data
    model: str = _f("tiny", "base model: a Hub id or a local path; 'tiny' builds a tiny random model and a tokenizer "
                            "trained on the dataset into OUTPUT_DIR/tiny-base (a smoke run: nothing is downloaded)")
    dataset: list[str] = _f([], "exported dataset folder(s) (`skillforge export`); rows of several are pooled per skill")
    split: str = _f("train", "dataset split")
    skills: list[str] = _f(list(SKILLS), "skills to train on (a subset is an ablation: same config, fewer skills)")
    mix: dict[str, float] = _f({}, "mixing ratio per skill, e.g. review=2,localization=1 (default: uniform, so "
                                   "every batch sees every skill); small skills are repeated to fill their share")
    max_instances: int = _f(0, "at most this many instances per skill (0: all)")
    workspace: str | None = _f(None, "the workspace that built the dataset (repositories and images for the "
                                     "execution-based scorers)")
    repos_dir: str | None = _f(None, "clones as DIR/owner__name, for the execution-based scorers when no workspace")
    output_dir: str = _f(".skillforge/train", "checkpoints, logs and the final model (OUTPUT_DIR/final)")
    seed: int = _f(42, "random seed (data order, sampling, initialisation)")

    # ------------------------------------------------------------------ task interface
    mode: str = _f("single_turn", "single_turn: one prompt, one answer in the skill's format; agentic: the policy "
                                  "acts in the instance's container with the tools bash and str_replace, then answers",
                   choices=MODES)
    max_turns: int = _f(10, "agentic mode: at most this many tool-calling turns per rollout")
    tool_timeout: int = _f(60, "agentic mode: seconds a bash command may run")

    # ------------------------------------------------------------------ GRPO
    num_generations: int = _f(8, "completions sampled per prompt (the group of group-relative advantages)")
    prompts_per_step: int = _f(4, "prompts per optimisation step (per device); the batch is this times "
                                  "num_generations completions")
    gradient_accumulation_steps: int = _f(1, "gradient accumulation steps")
    max_steps: int = _f(100, "optimisation steps (0: run num_train_epochs over the mixed dataset)")
    num_train_epochs: float = _f(1.0, "epochs over the mixed dataset when max_steps is 0")
    learning_rate: float = _f(1e-6, "learning rate")
    lr_scheduler_type: str = _f("constant", "learning-rate schedule (transformers names: constant, linear, cosine, ...)")
    warmup_steps: int = _f(0, "learning-rate warm-up steps")
    loss_type: str = _f("dapo", "GRPO loss: grpo, dr_grpo (Dr. GRPO: constant normalisation), dapo, bnpo, cispo, "
                                "sapo, luspo, vespo", choices=LOSS_TYPES)
    scale_rewards: str = _f("group", "advantage scaling: group (std within each group), batch, or none (Dr. GRPO)",
                            choices=SCALE_REWARDS)
    beta: float = _f(0.0, "KL coefficient against the reference model (0: no reference model is loaded)")
    epsilon: float = _f(0.2, "clipping range of the policy ratio")
    num_iterations: int = _f(1, "optimisation passes per generated batch")
    temperature: float = _f(1.0, "sampling temperature")
    top_p: float = _f(1.0, "nucleus sampling threshold")
    max_completion_length: int = _f(1024, "tokens generated per completion (agentic: per whole rollout)")
    mask_truncated_completions: bool = _f(False, "leave completions cut at max_completion_length out of the loss")
    gradient_checkpointing: bool = _f(True, "trade compute for memory (turn off for tiny models)")
    bf16: str = _f("auto", "bf16 mixed precision: auto (on a GPU that supports it), true or false")

    # ------------------------------------------------------------------ LoRA
    lora: bool = _f(False, "train LoRA adapters instead of all weights (merged into OUTPUT_DIR/final at the end)")
    lora_r: int = _f(16, "LoRA rank")
    lora_alpha: int = _f(32, "LoRA alpha")
    lora_dropout: float = _f(0.05, "LoRA dropout")
    lora_target_modules: str = _f("all-linear", "modules to adapt (comma-separated names, or all-linear)")

    # ------------------------------------------------------------------ generation backend
    use_vllm: str = _f("auto", "generate with vLLM: auto (when a GPU and vllm are present), true or false")
    vllm_mode: str = _f("colocate", "vLLM mode: colocate (same GPUs) or server (`trl vllm-serve`)",
                        choices=("colocate", "server"))
    vllm_gpu_memory_utilization: float = _f(0.3, "colocated vLLM: fraction of GPU memory it may take")

    # ------------------------------------------------------------------ rewards
    reward_workers: int = _f(4, "scorers running at once (each execution-based score runs containers)")
    container_pool: int = _f(0, "warm containers per environment for execution-based rewards (a WarmPool: no "
                                "container start per run); 0: a fresh container per run")
    reward_timeout: float = _f(900.0, "seconds one score may take; past it the completion scores 0 (counted)")

    # ------------------------------------------------------------------ checkpoints and logs
    save_steps: int = _f(50, "save a checkpoint every this many steps")
    save_total_limit: int = _f(2, "checkpoints kept (older ones are deleted)")
    resume: str = _f("auto", "auto: resume from the newest checkpoint in output_dir if any; never; or a "
                             "checkpoint path")
    logging_steps: int = _f(1, "log metrics every this many steps")
    report_to: list[str] = _f(["none"], "TRL/transformers integrations to log to (tensorboard, wandb, trackio, ...)")
    log_completions: bool = _f(False, "log a sample of prompts and completions every logging step")

    # ------------------------------------------------------------------ passthrough
    grpo: dict[str, Any] = _f({}, "further GRPOConfig fields, passed through unchanged (YAML only)", cli=False)

    # ------------------------------------------------------------------ helpers
    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}

    @classmethod
    def from_yaml(cls, path: str | Path | None, overrides: dict[str, Any] | None = None) -> "TrainConfig":
        """Defaults, then the YAML file, then ``overrides`` (flags; None means not given).
        Relative paths in the file are relative to the file."""
        data: dict[str, Any] = {}
        base: Path | None = None
        if path is not None:
            path = Path(path)
            if not path.exists():
                raise ConfigError(f"{path}: no such config file")
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path}: a train config is a mapping of fields, got {type(loaded).__name__}")
            data.update(loaded)
            base = path.resolve().parent
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}; see `skillforge train --help`")
        if base is not None:
            for key in ("dataset", "workspace", "repos_dir", "output_dir", "model"):
                if key in data and data[key] is not None:
                    data[key] = _resolve(data[key], base, key)
        for key, value in (overrides or {}).items():
            if value is None:
                continue
            if key not in known:
                raise ConfigError(f"unknown option {key}")
            data[key] = value
        config = cls(**{k: coerce(k, v) for k, v in data.items()})
        config.validate()
        return config

    def validate(self) -> None:
        for name in self.skills:
            if name not in SKILLS:
                raise ConfigError(f"unknown skill {name!r} in skills; choose from {', '.join(SKILLS)}")
        if not self.skills:
            raise ConfigError("skills is empty: name at least one skill")
        for name, ratio in self.mix.items():
            if name not in SKILLS:
                raise ConfigError(f"unknown skill {name!r} in mix; choose from {', '.join(SKILLS)}")
            if ratio < 0:
                raise ConfigError(f"mix ratio of {name} is negative ({ratio})")
        if self.mix and not any(self.mix.get(s, 0) > 0 for s in self.skills):
            raise ConfigError("mix gives every selected skill a ratio of 0")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ConfigError(f"{f.name} must be one of {', '.join(choices)}, not {getattr(self, f.name)!r}")
        for name in ("use_vllm", "bf16"):
            if getattr(self, name) not in ("auto", "true", "false"):
                raise ConfigError(f"{name} must be auto, true or false, not {getattr(self, name)!r}")
        if self.num_generations < 2:
            raise ConfigError("num_generations must be at least 2: advantages are relative to the group")
        if self.container_pool < 0:
            raise ConfigError("container_pool must be 0 (no pool) or a number of containers")
        if self.prompts_per_step < 1 or self.max_completion_length < 1 or self.reward_workers < 1:
            raise ConfigError("prompts_per_step, max_completion_length and reward_workers must be positive")

    def ratios(self) -> dict[str, float]:
        """Normalised mixing ratios of the selected skills (those with a positive ratio)."""
        raw = {s: (self.mix.get(s, 0.0) if self.mix else 1.0) for s in self.skills}
        raw = {s: r for s, r in raw.items() if r > 0}
        total = sum(raw.values())
        return {s: r / total for s, r in raw.items()}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _resolve(value: Any, base: Path, key: str) -> Any:
    if isinstance(value, list):
        return [_resolve(v, base, key) for v in value]
    if not isinstance(value, str) or not value:
        return value
    if key == "model":
        # a Hub id (owner/name) stays as it is; an existing relative path is made absolute
        candidate = base / value
        return str(candidate) if value.startswith(".") or candidate.exists() else value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def coerce(name: str, value: Any) -> Any:
    """A YAML value or a command-line string into the field's type."""
    hint = _field_types()[name]
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if value is None:
        return None
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} is a list, got {value!r}")
        return [str(v) for v in value]
    if origin is dict:
        if isinstance(value, str):
            pairs = {}
            for part in (p.strip() for p in value.split(",") if p.strip()):
                key, sep, val = part.partition("=")
                if not sep:
                    raise ConfigError(f"{name}: {part!r} is not key=value")
                pairs[key.strip()] = val.strip()
            value = pairs
        if not isinstance(value, dict):
            raise ConfigError(f"{name} is a mapping, got {value!r}")
        if name == "mix":
            try:
                return {str(k): float(v) for k, v in value.items()}
            except (TypeError, ValueError) as e:
                raise ConfigError(f"mix ratios are numbers: {e}") from None
        return dict(value)
    target = args[0] if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) else hint
    if name in ("use_vllm", "bf16"):
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value).lower()
    if target is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} is true or false, got {value!r}")
    try:
        if target is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if target is float:
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a {target.__name__}, got {value!r}") from None
    return str(value)


def cli_fields() -> list[tuple[str, Any, str]]:
    """(name, command-line type, help) of every field that is also a flag."""
    out = []
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("cli", True) is False:
            continue
        hint = _field_types()[f.name]
        origin = typing.get_origin(hint)
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if origin in (list, dict) or f.name in ("use_vllm", "bf16"):
            kind: Any = str
        elif args:
            kind = args[0]
        else:
            kind = hint
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        shown = ",".join(default) if isinstance(default, list) else (
            ",".join(f"{k}={v}" for k, v in default.items()) if isinstance(default, dict) else default)
        help_text = f.metadata.get("help", "")
        if shown not in (None, ""):
            help_text += f" (default: {shown})"
        out.append((f.name, kind, help_text))
    return out
