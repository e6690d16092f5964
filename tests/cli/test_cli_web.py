"""The web service's commands: `serve` (a real process), `admin add`, `api-tokens`."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from escalation import resources
from tests.cli.test_cli import Cli, app, clean_env, cli, upgraded
from tests.smtp_sink import free_port

__all__ = ["app", "cli", "upgraded"]  # fixtures shared with test_cli

FRONTEND = str(resources.package_root() / "node_modules")


def test_it_adds_the_first_partnership_admin_once(upgraded: Cli) -> None:
    added = upgraded.ok(
        "admin",
        "add",
        "--partnership",
        "Devon",
        "--name",
        "Ari Admin",
        "--email",
        "ari@dscp.example.org",
    )
    assert "admin and partnership contact of Devon SCP Business Unit (added)" in added.stdout
    again = upgraded.ok(
        "admin",
        "add",
        "--partnership",
        "devon",
        "--name",
        "Ari Admin",
        "--email",
        "ari@dscp.example.org",
    )
    assert "(already there)" in again.stdout
    listed = upgraded.ok("orgs", "list", "--partnership", "devon").stdout
    assert "Devon SCP Business Unit" in listed and "ari@dscp.example.org" in listed
    assert upgraded.count("contacts") == 2  # admin and partnership roles, once each


def test_it_names_the_field_when_an_admin_cannot_be_added(upgraded: Cli) -> None:
    line = upgraded.error(
        "admin", "add", "--partnership", "devon", "--name", "Ari", "--email", "not-an-address"
    )
    assert line.startswith("error: email:")
    assert (
        "cornwall"
        in upgraded.fails(
            "admin", "add", "--partnership", "cornwall", "--name", "Ari", "--email", "a@b.org"
        ).stderr
    )
    assert upgraded.count("contacts") == 0 and upgraded.count("organisations") == 0


def test_it_issues_lists_and_revokes_api_tokens(app: Cli) -> None:
    made = app.ok(
        "api-tokens", "create", "--org", "Devon Front Door", "--label", "Mosaic", "--by", "Pip"
    ).stdout.splitlines()
    assert made[0] == "token 1 for Devon Front Door (Mosaic):"
    token = made[1]
    assert token.startswith("esc_") and len(token) > 40
    with_hash = app.count("api_tokens")
    assert with_hash == 1
    listed = app.ok("api-tokens", "list").stdout
    assert "Devon Front Door\tMosaic\tby Pip" in listed and token not in listed
    assert "active" in listed
    assert "revoked token 1" in app.ok("api-tokens", "revoke", "1").stdout
    assert "revoked" in app.ok("api-tokens", "list").stdout
    assert app.error("api-tokens", "revoke", "1") == "error: token-id: 1 was already revoked"
    assert "no API token 7" in app.error("api-tokens", "revoke", "7")
    assert "no organisation named 'Nowhere'" in app.error(
        "api-tokens", "create", "--org", "Nowhere", "--label", "x", "--by", "y"
    )


def _serve(database: Path, port: int, **env: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "escalation", "serve", "--port", str(port)]
    return subprocess.Popen(
        argv,
        cwd=database.parent,
        env=clean_env(ESCALATION_DATABASE_URL=f"sqlite:///{database}", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_it_serves_the_pages_and_the_api_in_a_real_process(upgraded: Cli) -> None:
    port = free_port()
    process = _serve(upgraded.database, port, ESCALATION_FRONTEND_DIR=FRONTEND)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, page = _get(f"http://127.0.0.1:{port}/")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, (
                    f"escalation serve did not answer on 127.0.0.1:{port} within 30 s"
                )
                time.sleep(0.2)
        assert status == 200 and "Resolve a professional disagreement about a child" in page
        assert _get(f"http://127.0.0.1:{port}/static/govuk-frontend.min.css")[0] == 200
        status, document = _get(f"http://127.0.0.1:{port}/api/openapi.json")
        assert status == 200 and '"/api/v1/challenges"' in document
        assert _get(f"http://127.0.0.1:{port}/challenges")[0] == 403
    finally:
        process.terminate()
        process.communicate(timeout=30)  # and close its pipes


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"ESCALATION_FRONTEND_DIR": "/nonexistent"}, "ESCALATION_FRONTEND_DIR"),
        ({"ESCALATION_SECRET_KEY": "short"}, "ESCALATION_SECRET_KEY: must be at least 32"),
    ],
)
def test_it_refuses_to_serve_with_a_bad_setting(
    upgraded: Cli, env: dict[str, str], problem: str
) -> None:
    process = _serve(upgraded.database, free_port(), **env)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, (stdout, stderr)
    assert stderr.startswith("error: ") and problem in stderr


def test_it_refuses_to_serve_a_database_without_the_schema(tmp_path: Path) -> None:
    process = _serve(tmp_path / "empty.db", free_port(), ESCALATION_FRONTEND_DIR=FRONTEND)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "run `escalation db upgrade` first" in stderr
