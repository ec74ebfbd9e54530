"""The ``skillforge train`` command's flags, made from ``TrainConfig`` (one flag
per field, help text included) and its rendering. Imports nothing heavy."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from skillforge.train.config import ConfigError, TrainConfig, cli_fields


def train_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``func(config, **overrides)`` one typer option per ``TrainConfig`` field
    (default None: not given, so the YAML file's value or the field default holds)."""
    params = [inspect.Parameter(
        "config", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[Optional[Path], typer.Option("--config", "-c", help="train config (YAML); flags override it")],
    )]
    annotations: dict[str, Any] = {"config": params[0].annotation}
    for name, kind, help_text in cli_fields():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            option = typer.Option(f"{flag}/--no-{name.replace('_', '-')}", help=help_text, show_default=False)
        else:
            option = typer.Option(flag, help=help_text, show_default=False)
        annotation = Annotated[Optional[kind], option]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
        annotations[name] = annotation
    func.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    func.__annotations__ = {**annotations, "return": None}
    return func


def load_config(config: Path | None, overrides: dict[str, Any]) -> TrainConfig:
    return TrainConfig.from_yaml(config, overrides)


def summary_table(result):
    """Per skill: instances, final mean reward, scored, timeouts, errors, latency."""
    from rich.table import Table

    rewards = result.skill_rewards()
    table = Table(title=f"Trained {result.steps} steps in {result.seconds:.0f}s → {result.final_model}")
    for col, justify in (("skill", "left"), ("instances", "right"), ("reward (last steps)", "right"),
                         ("scored", "right"), ("timeouts", "right"), ("errors", "right"), ("latency", "right")):
        table.add_column(col, justify=justify)
    for skill, n in result.instances.items():
        s = result.scoring.get(skill, {})
        reward = rewards.get(skill)
        table.add_row(skill, str(n), "-" if reward is None else f"{reward:.3f}", str(s.get("scored", 0)),
                      str(s.get("timeouts", 0)), str(s.get("errors", 0)), f"{s.get('mean_latency_s', 0.0):.2f}s")
    return table


__all__ = ["ConfigError", "load_config", "summary_table", "train_options"]
