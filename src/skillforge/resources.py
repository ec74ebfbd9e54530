"""Files that ship with skillforge: dataset card templates (``data_cards/``),
run and environment recipes (``recipes/``) and the bundled samples (``samples/``).

They live at the top of the source repository and are copied into the wheel as
``skillforge/_resources/<name>`` (``pyproject.toml``, ``force-include``). An
installed wheel reads them with ``importlib.resources``; a source checkout (an
editable install) reads the top-level folders themselves.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

NAMES = ("data_cards", "recipes", "samples")


def resource_dir(name: str) -> Path:
    """The folder of a shipped resource (``data_cards``, ``recipes`` or ``samples``)."""
    if name not in NAMES:
        raise ValueError(f"unknown resource {name!r}: one of {', '.join(NAMES)}")
    packaged = resources.files("skillforge") / "_resources" / name
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / name  # src/skillforge/resources.py -> the repository
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"skillforge's {name}/ folder is missing: neither {packaged} (an installed wheel) "
                            f"nor {checkout} (a source checkout) exists; reinstall skillforge")


def resource(name: str, *parts: str) -> Path:
    """A file or folder inside a shipped resource, e.g. ``resource("data_cards", "skillforge.md.j2")``."""
    path = resource_dir(name).joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{'/'.join((name, *parts))} is not shipped with this skillforge")
    return path
