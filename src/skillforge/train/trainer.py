"""``skillforge train``: one policy trained with GRPO (TRL's ``GRPOTrainer``)
on the skills of exported datasets, with the skills' scorers as rewards.

TRL does generation (transformers, or vLLM on a GPU), LoRA (peft), multi-GPU
and multi-node training (accelerate, DeepSpeed: launch with ``accelerate
launch -m skillforge.cli.main train ...``), checkpoints and its logging
integrations. skillforge brings the data (mixed per skill), one reward per
skill, the agentic environment, and a terminal view of per-skill rewards.

Outputs under ``output_dir``: ``checkpoint-N/`` (resumable), ``metrics.jsonl``
(one line per logging step), ``final/`` (the trained model and tokenizer, LoRA
merged, loadable by ``skillforge eval --model``) with ``skillforge_train.json``.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillforge.schema import SKILLS, Instance
from skillforge.skills import REGISTRY
from skillforge.train.config import TrainConfig
from skillforge.train.data import DataError, backend_for, build_dataset, load_skill_instances, mix
from skillforge.train.rewards import ScoringPool, skill_rewards

INSTALL = "pip install torch==2.13.0 'skillforge[train]'"
TINY = "tiny"


class TrainError(RuntimeError):
    pass


@dataclass
class TrainResult:
    output_dir: Path
    final_model: Path
    steps: int
    instances: dict[str, int]
    history: list[dict[str, Any]] = field(default_factory=list)
    scoring: dict[str, dict[str, Any]] = field(default_factory=dict)
    resumed_from: str | None = None
    seconds: float = 0.0

    def skill_rewards(self, last: int = 5) -> dict[str, float]:
        """Mean reward per skill over the last ``last`` logged steps."""
        out: dict[str, list[float]] = defaultdict(list)
        for row in [r for r in self.history if "reward" in r][-last:]:
            for key, value in row.items():
                if key.startswith("rewards/") and key.endswith("/mean") and _number(value):
                    out[key.split("/")[1]].append(value)
        return {k: sum(v) / len(v) for k, v in out.items()}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and value == value  # not None, not NaN


def _require_training_stack() -> None:
    missing = []
    for module in ("torch", "transformers", "trl", "accelerate"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise TrainError(f"training needs {', '.join(missing)}: {INSTALL}")


def _group(instances: Iterable[Instance], skills: list[str], max_per_skill: int) -> dict[str, list[Instance]]:
    by_skill: dict[str, list[Instance]] = {s: [] for s in skills}
    for inst in instances:
        if inst.skill in by_skill:
            by_skill[inst.skill].append(inst)
    if max_per_skill:
        by_skill = {s: v[:max_per_skill] for s, v in by_skill.items()}
    return by_skill


def _flag(value: str, auto: bool) -> bool:
    return auto if value == "auto" else value == "true"


def grpo_args(config: TrainConfig, *, cuda: bool, bf16_ok: bool, vllm_available: bool, progress: bool):
    """TRL's ``GRPOConfig`` for a ``TrainConfig``."""
    from trl import GRPOConfig

    use_vllm = _flag(config.use_vllm, cuda and vllm_available)
    if use_vllm and not vllm_available:
        raise TrainError("use_vllm is true but vllm is not installed: pip install vllm (on a machine with a GPU)")
    kwargs: dict[str, Any] = dict(
        output_dir=config.output_dir,
        per_device_train_batch_size=config.prompts_per_step * config.num_generations,
        num_generations=config.num_generations,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_steps=config.max_steps if config.max_steps > 0 else -1,
        num_train_epochs=config.num_train_epochs,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_steps,
        loss_type=config.loss_type,
        scale_rewards=config.scale_rewards,
        beta=config.beta,
        epsilon=config.epsilon,
        num_iterations=config.num_iterations,
        temperature=config.temperature,
        top_p=config.top_p,
        max_completion_length=config.max_completion_length,
        mask_truncated_completions=config.mask_truncated_completions,
        gradient_checkpointing=config.gradient_checkpointing,
        bf16=_flag(config.bf16, cuda and bf16_ok),
        use_vllm=use_vllm,
        vllm_mode=config.vllm_mode,
        vllm_gpu_memory_utilization=config.vllm_gpu_memory_utilization,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        report_to=config.report_to,
        log_completions=config.log_completions,
        seed=config.seed,
        data_seed=config.seed,
        shuffle_dataset=False,  # the mixed stream is already shuffled, and interleaves the skills
        remove_unused_columns=False,
        disable_tqdm=progress,
    )
    if config.mode == "agentic":
        kwargs["max_tool_calling_iterations"] = config.max_turns
    kwargs.update(config.grpo)
    try:
        return GRPOConfig(**kwargs)
    except (TypeError, ValueError) as e:
        raise TrainError(f"invalid GRPO settings: {e}") from e


def _callbacks(console, out: Path, progress: bool):
    from transformers import TrainerCallback

    class MetricsFile(TrainerCallback):
        """``metrics.jsonl``: one line per logging step, readable without TRL."""

        def on_log(self, args, state, control, logs=None, **kw):
            if state.is_world_process_zero and logs:
                with open(out / "metrics.jsonl", "a") as fh:
                    fh.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    class RichProgress(TrainerCallback):
        """A progress bar and one line per logging step with each skill's reward."""

        def __init__(self):
            self.progress = None
            self.task = None

        def on_train_begin(self, args, state, control, **kw):
            if not state.is_world_process_zero:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn

            self.progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
                                     console=console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task("", total=state.max_steps or None, completed=state.global_step)

        def on_step_end(self, args, state, control, **kw):
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kw):
            if self.progress is None or not logs or not _number(logs.get("reward")):
                return
            parts = [f"reward {logs['reward']:.3f}"]
            for key, value in logs.items():
                if key.startswith("rewards/") and key.endswith("/mean") and _number(value):
                    parts.append(f"{key.split('/')[1]} {value:.2f}")
            if _number(logs.get("frac_reward_zero_std")):
                parts.append(f"zero-spread {logs['frac_reward_zero_std']:.2f}")
            if _number(logs.get("pool/scorer_utilization")):
                parts.append(f"scorers {logs['pool/scorer_utilization']:.0%}")
            line = " · ".join(parts)
            self.progress.update(self.task, description=line)
            self.progress.console.print(f"step {state.global_step}: {line}", highlight=False)

        def on_train_end(self, args, state, control, **kw):
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)
                self.progress.stop()
                self.progress = None

    callbacks = [MetricsFile()]
    if progress:
        callbacks.append(RichProgress())
    return callbacks


def train(config: TrainConfig, *, instances: Iterable[Instance] | None = None, backend=None, console=None,
          progress: bool = True, callbacks: Iterable[Any] = ()) -> TrainResult:
    """Train ``config.model`` with GRPO on the configured skills; returns where the
    final model is and what happened. ``instances`` replaces loading
    ``config.dataset``; ``backend`` replaces the one built for execution-based skills."""
    _require_training_stack()
    import torch
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOTrainer

    started = time.monotonic()
    config.validate()
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    # data ---------------------------------------------------------------
    ratios = config.ratios()
    skills = [s for s in SKILLS if s in ratios]
    if instances is not None:
        by_skill = _group(instances, skills, config.max_instances)
    else:
        try:
            by_skill = load_skill_instances(config.dataset, skills, split=config.split,
                                            max_per_skill=config.max_instances)
        except DataError as e:
            raise TrainError(str(e)) from e
    active = [s for s in skills if by_skill.get(s)]
    if not active:
        raise TrainError(f"no instances of {', '.join(skills)} in {', '.join(config.dataset) or 'the given instances'}")
    per_step = config.prompts_per_step * config.gradient_accumulation_steps
    stream = mix(by_skill, {s: ratios[s] for s in active}, seed=config.seed,
                 length=config.max_steps * per_step if config.max_steps > 0 else 0)

    # execution backend ------------------------------------------------------
    # (building it touches no Docker: the engine is reached when a scorer first runs something)
    needs_execution = config.mode == "agentic" or any(REGISTRY[s].needs_execution for s in active)
    if needs_execution and backend is None and (config.dataset or config.mode == "agentic"):
        try:
            backend = backend_for(config.dataset, workspace=config.workspace, repos_dir=config.repos_dir,
                                  logs_dir=out / "logs", container_pool=config.container_pool)
        except (DataError, ValueError) as e:
            raise TrainError(str(e)) from e

    # model -------------------------------------------------------------
    model_path = config.model
    if model_path == TINY:
        from skillforge.train.tiny import build_tiny_model_for

        tiny_dir = out / "tiny-base"
        if not (tiny_dir / "config.json").exists():
            build_tiny_model_for(tiny_dir, [i for s in active for i in by_skill[s]], seed=config.seed)
        model_path = str(tiny_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    conversational = bool(getattr(tokenizer, "chat_template", None))
    if config.mode == "agentic" and not conversational:
        raise TrainError(f"agentic mode needs a chat model with tool calling; {config.model} has no chat template")
    train_dataset = build_dataset(stream, conversational=conversational)

    cuda = torch.cuda.is_available()
    import importlib.util

    args = grpo_args(config, cuda=cuda, bf16_ok=cuda and torch.cuda.is_bf16_supported(),
                     vllm_available=importlib.util.find_spec("vllm") is not None, progress=progress)
    peft_config = None
    if config.lora:
        try:
            from peft import LoraConfig
        except ImportError as e:
            raise TrainError(f"lora needs peft: {INSTALL}") from e
        targets = config.lora_target_modules
        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                                 target_modules=targets if targets == "all-linear" else targets.split(","),
                                 task_type="CAUSAL_LM")

    pool = ScoringPool(config.reward_workers, config.reward_timeout)
    rewards = skill_rewards(active, backend=backend, pool=pool)
    environment_factory = None
    if config.mode == "agentic":
        from skillforge.train.env import EnvironmentFactory

        # one environment per rollout (TRL pools and resets them); the factory closes their checkouts at the end
        environment_factory = EnvironmentFactory(backend, tool_timeout=config.tool_timeout)

    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    trainer = GRPOTrainer(model=model_path, reward_funcs=rewards, args=args, train_dataset=train_dataset,
                          processing_class=tokenizer, peft_config=peft_config,
                          callbacks=[*_callbacks(console, out, progress), *callbacks],
                          environment_factory=environment_factory)
    if progress:
        for cb in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(cb)

    resume = None
    if config.resume == "auto":
        resume = get_last_checkpoint(str(out)) if out.exists() else None
    elif config.resume not in ("never", ""):
        resume = config.resume
        if not Path(resume).exists():
            raise TrainError(f"resume: {resume} does not exist")
    if resume:
        console.print(f"resuming from {resume}")
    try:
        trainer.train(resume_from_checkpoint=resume)
    finally:
        pool.shutdown()
        if environment_factory is not None:
            environment_factory.close()
        if backend is not None:
            backend.close()  # a warm pool's containers go now, not at exit

    # final model ------------------------------------------------------------
    final = out / "final"
    final.mkdir(parents=True, exist_ok=True)
    if trainer.accelerator.is_main_process:
        model = trainer.accelerator.unwrap_model(trainer.model)
        if config.lora and hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        model.save_pretrained(final)
        tokenizer.save_pretrained(final)
    result = TrainResult(
        output_dir=out, final_model=final, steps=trainer.state.global_step,
        instances={s: len(by_skill[s]) for s in active}, history=list(trainer.state.log_history),
        scoring={s: pool.stats[s].to_json() for s in active}, resumed_from=str(resume) if resume else None,
        seconds=time.monotonic() - started,
    )
    if trainer.accelerator.is_main_process:
        (final / "skillforge_train.json").write_text(json.dumps({
            "config": config.to_dict(), "base_model": model_path, "steps": result.steps,
            "instances": result.instances, "scoring": result.scoring, "final_rewards": result.skill_rewards(),
            "resumed_from": result.resumed_from,
        }, indent=2))
    return result
