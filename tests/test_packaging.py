"""The wheel carries workflows/ and templates/ and works when installed, not run from the tree.

The wheel is built from this checkout, installed with --target into a temporary folder, and
run from another working directory with only that folder (and the test environment's
dependencies) on the path, so nothing can be picked up from the source tree by accident.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=600,
    )
    [wheel] = wheels.glob("escalation-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    return target


def run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("ESCALATION_WORKFLOWS_DIR", None)
    env.pop("ESCALATION_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "escalation", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_it_ships_the_protocol_files_and_templates_inside_the_wheel(installed: Path) -> None:
    data = installed / "escalation" / "_data"
    assert sorted(p.name for p in (data / "workflows").glob("*.yaml")) == [
        "closures.yaml",
        "devon.yaml",
        "plymouth.yaml",
        "torbay.yaml",
    ]
    assert (data / "templates").is_dir()
    assert (installed / "escalation" / "casework" / "migrations" / "versions").is_dir()


def test_it_runs_from_the_installed_wheel_in_another_directory(
    installed: Path, tmp_path: Path
) -> None:
    validate = run(installed, tmp_path, "workflows", "validate")
    assert validate.returncode == 0, validate.stderr
    assert str(installed) in validate.stdout  # the shipped files, not the checkout's
    due = run(
        installed,
        tmp_path,
        "due",
        "--workflow",
        "devon",
        "--level",
        "1",
        "--start",
        "2026-12-23T15:00",
        "--json",
    )
    assert due.returncode == 0, due.stderr
    assert json.loads(due.stdout)["due_at"] == "2027-01-04T17:00:00+00:00"
    demo = run(installed, tmp_path, "demo", "--dir", "demo")
    assert demo.returncode == 0, demo.stderr
    assert "DSCP-2026-00001" in demo.stdout
    assert (tmp_path / "demo" / "escalation.db").is_file()
