"""Settings are read strictly from the environment and name the variable when wrong."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from escalation.config import ConfigError, Settings


def test_it_defaults_to_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    settings = Settings.from_env({}, cwd=tmp_path)
    assert settings.database_url.render_as_string() == f"sqlite:///{tmp_path}/escalation.db"
    assert settings.workflows_dir is None
    assert settings.base_url == "http://localhost:8000"
    assert settings.log_level == logging.WARNING


def test_it_uses_psycopg_for_a_plain_postgresql_url(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"ESCALATION_DATABASE_URL": "postgresql://escalation@db.internal/escalation"}, tmp_path
    )
    assert settings.database_url.drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "ESCALATION_DATABASE_URL",
            "mysql://x@y/z",
            "ESCALATION_DATABASE_URL: 'mysql' is not supported",
        ),
        (
            "ESCALATION_DATABASE_URL",
            "::nonsense::",
            "ESCALATION_DATABASE_URL: '::nonsense::' is not a",
        ),
        (
            "ESCALATION_WORKFLOWS_DIR",
            "/no/such/folder",
            "ESCALATION_WORKFLOWS_DIR: '/no/such/folder'",
        ),
        (
            "ESCALATION_BASE_URL",
            "example.org",
            "ESCALATION_BASE_URL: 'example.org' must start with",
        ),
        ("ESCALATION_LOG_LEVEL", "LOUD", "ESCALATION_LOG_LEVEL: 'LOUD' is not one of"),
    ],
)
def test_it_names_the_variable_with_a_bad_value(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value}, cwd=tmp_path)
    assert str(caught.value).startswith(message)
