"""The checks the README promises are enforced: `mypy --strict` and `ruff` over the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the test extras (pip install '.[test]')")
    return found


def test_it_passes_mypy_strict() -> None:
    result = subprocess.run(
        [_tool("mypy"), "--strict", "escalation"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_passes_ruff() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "escalation", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_is_formatted_by_ruff() -> None:
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", "escalation", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
