"""Execution: what a run is (``RunSpec``), what it gives back (``RunResult``),
and the machinery that carries it out in Docker."""

from skillforge.execution.spec import Executor, InfraError, RunResult, RunSpec, RunStatus, TestOutcome
from skillforge.execution.session import Session, SessionError

__all__ = ["Executor", "InfraError", "RunResult", "RunSpec", "RunStatus", "TestOutcome"]
__all__ += ["Session", "SessionError"]
