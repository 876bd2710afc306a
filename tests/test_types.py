"""The type discipline of STYLE.md §8, enforced: mypy --strict on the packages, and
check_untyped_defs on the tests (both configured in pyproject.toml)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_agent_parsers_and_spool_pass_mypy_strict() -> None:
    result = mypy()
    assert result.returncode == 0, result.stdout[-3000:]


def test_tests_pass_mypy_with_checked_bodies() -> None:
    result = mypy("tests")
    assert result.returncode == 0, result.stdout[-3000:]
