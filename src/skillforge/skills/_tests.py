"""Shared reading of test runs for the execution-based scorers."""

from __future__ import annotations

from skillforge.execution import InfraError, RunResult


def check_infra(result: RunResult) -> None:
    """Infrastructure failures never become scores: raise them for triage."""
    if result.status == "infra_error":
        raise InfraError(result.reason or "execution failed", log_path=result.log_path)


def all_passed(result: RunResult, tests: list[str]) -> bool:
    return result.status == "ok" and all(result.tests.get(t) == "passed" for t in tests)


def failing(result: RunResult, tests: list[str]) -> list[str]:
    return [t for t in tests if result.tests.get(t) != "passed"]
