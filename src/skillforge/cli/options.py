"""Command-line flags made from the stage configuration models (``stages.config``):
one flag per field, its help the field's description, its default the field's
(so defaults are written once). A command decorated with ``config_flags``
receives the flags it did not declare itself as ``**flags`` and builds its
configs with ``make_config``."""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def _flag_type(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """(python type for typer, extra typer.Option arguments) of a field annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _flag_type(args[0]) if len(args) == 1 else (str, {})
    if origin is Literal:  # typer shows an Enum's values as the choices
        values = [str(a) for a in typing.get_args(annotation)]
        return enum.Enum("Choice_" + "_".join(values), {v: v for v in values}, type=str), {}
    if origin in (list, tuple):
        return str, {"metavar": "A,B,..."}  # comma-separated on the command line
    if annotation in (int, float, bool, str):
        return annotation, {}
    return str, {}


def _default_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def config_flags(*models: type[BaseModel], skip: tuple[str, ...] = (), rename: dict[str, str] | None = None
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add one option per field of ``models`` to a typer command (fields ``skip``ped or
    already parameters of the command are left out; ``rename`` maps field -> flag name)."""
    rename = rename or {}

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        hints = typing.get_type_hints(func, include_extras=True)  # the command's own annotations, evaluated
        own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()
               if p.kind is not inspect.Parameter.VAR_KEYWORD]
        params, annotations = list(own), {p.name: p.annotation for p in own}
        taken = {p.name for p in own}
        for model in models:
            for name, field in model.model_fields.items():
                if name in skip or name in taken:
                    continue
                taken.add(name)
                kind, extra = _flag_type(field.annotation)
                flag = "--" + rename.get(name, name).replace("_", "-")
                default = field.get_default(call_default_factory=True) if field.default is not PydanticUndefined \
                    or field.default_factory is not None else None
                help_text = field.description or ""
                if _default_text(default) and kind is not bool:
                    help_text += f" (default: {_default_text(default)})"
                if kind is bool:
                    option = typer.Option(f"{flag}/--no-{flag[2:]}", help=help_text, show_default=False)
                else:
                    option = typer.Option(flag, help=help_text, show_default=False, **extra)
                annotation = Annotated[Optional[kind], option]
                params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                                annotation=annotation))
                annotations[name] = annotation
        func.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        func.__annotations__ = {**annotations, "return": None}
        return func

    return decorate


def make_config(model: type[BaseModel], flags: dict[str, Any], base: BaseModel | None = None, **fixed: Any):
    """``model`` from the flags given (None: not given), over ``base`` (e.g. a recipe's section) or the
    defaults; list fields are read comma-separated. Raises ``typer.BadParameter`` naming the flag."""
    from pydantic import ValidationError

    values = dict(base.model_dump(by_alias=False) if base is not None else {})
    for name, field in model.model_fields.items():
        value = flags.get(name)
        if value is None:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        if typing.get_origin(field.annotation) in (list, tuple) and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        values[name] = value
    values.update(fixed)
    try:
        return model.model_validate(values)
    except ValidationError as e:
        first = e.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        raise typer.BadParameter(first["msg"], param_hint=f"--{name.replace('_', '-')}" if name else None) from None
