"""Where the shipped data lives: the workflow (protocol) files and the email templates.

In an installed wheel they are inside the package, at `escalation/_data/workflows` and
`escalation/_data/templates` (hatch force-include, see pyproject.toml). In a source checkout or
an editable install they are the repository's own `workflows/` and `templates/` folders, next to
the package. Configuration (for example an environment variable naming another workflows folder)
is read elsewhere and passed in here as `override`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def workflows_dir(override: Path | str | None = None) -> Path:
    """The folder of protocol files and `closures.yaml`; `override` wins when given."""
    return _data_dir("workflows", override)


def templates_dir(override: Path | str | None = None) -> Path:
    """The folder of email templates; `override` wins when given."""
    return _data_dir("templates", override)


def _data_dir(name: str, override: Path | str | None) -> Path:
    if override is not None:
        return Path(override)
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def package_root() -> Path:
    """The folder above the package: the checkout, for a source or editable install."""
    return _PACKAGE.parent
