"""What a scorer may ask of an execution backend, and what it gets back.

Scorers never talk to Docker directly: they describe a run (``RunSpec``) and
an ``Executor`` carries it out inside the instance's environment. The Docker
sandbox in ``skillforge.execution.sandbox`` is the executor used by validation,
evaluation and training alike.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from skillforge.schema import Outcome, Triage

RunStatus = Literal["ok", "apply_failed", "timeout", "collection_error", "infra_error"]
TestOutcome = Literal["passed", "failed", "error", "skipped"]


@dataclass(frozen=True)
class RunSpec:
    """One execution: check out ``commit``, apply ``patches`` in order, then run
    either the pytest selection ``tests`` or the standalone ``script``."""

    commit: str
    patches: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    script: str | None = None
    label: str = ""
    timeout: int | None = None
    network: bool = False  # tests reach the network (an explicit opt-in; runs are sealed otherwise)
    patch_encoding: str = "utf-8"  # the codec patch files are written with (latin-1: a PR's bytes, exactly)

    def key(self, environment: str) -> str:
        """Content hash: the same environment and spec always give the same key."""
        shape = {"env": environment, "commit": self.commit, "patches": list(self.patches),
                 "tests": sorted(self.tests), "script": self.script}
        if self.network:
            shape["network"] = True
        if self.patch_encoding != "utf-8":  # only when not utf-8: existing keys stay
            shape["patch_encoding"] = self.patch_encoding
        payload = json.dumps(shape, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class RunResult:
    status: RunStatus
    exit_code: int | None = None
    tests: dict[str, TestOutcome] = field(default_factory=dict)
    output: str = ""
    duration: float = 0.0
    log_path: str | None = None
    reason: str = ""
    messages: dict[str, str] = field(default_factory=dict)  # failed / erroring test -> what it said

    @property
    def infra_failure(self) -> bool:
        """Failures of the machinery (never a label): only a finished run or a
        patch that does not apply says something about the answer."""
        return self.status in ("infra_error",)

    def passed(self, test: str) -> bool:
        return self.tests.get(test) == "passed"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RunResult":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class InfraError(RuntimeError):
    """The execution machinery failed (image build, engine, timeout of the engine).
    It is triaged and reported, and never turned into a score."""

    def __init__(self, message: str, *, triage: "Triage | str" = "sandbox", log_path: str | None = None):
        super().__init__(message)
        self.triage = _infra_triage(triage)
        self.log_path = log_path

    def outcome(self, message: str = "") -> "Outcome":
        """This error as an ``Outcome`` (first line of the message unless one is given)."""
        from skillforge.schema import Outcome

        return Outcome.failed(self.triage, message or str(self).split("\n")[0], self.log_path)


# what the machinery raises -> the triage class
_INFRA_ALIASES = {"base_image": "image_build", "engine": "sandbox", "infra_error": "sandbox", "pool": "sandbox"}


def _infra_triage(value: "Triage | str") -> "Triage":
    from skillforge.schema import Triage

    if isinstance(value, Triage):
        return value
    try:
        return Triage(_INFRA_ALIASES.get(value, value))
    except ValueError:
        return Triage.SANDBOX


class Executor(Protocol):
    def run(self, environment: str, spec: RunSpec, *, log_name: str | None = None) -> RunResult: ...
