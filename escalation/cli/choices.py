"""The values the commands' options offer, available to `--help` without loading the parts.

Two kinds. The rules' vocabulary (categories, outcomes, kinds of response) is read from
`escalation.rules.model` through a `DeferredChoice`, only when click needs it: a command's own
`--help`, or parsing its option. `escalation --help` then does not import the rules, which
import `holidays` (slower to load than click itself).

The rest are copies, because their owners cannot be loaded for `--help` at all: `config`
imports SQLAlchemy at module level, and the notice kinds, the outbox statuses and the report's
formats live in the casework, mail and reports packages. tests/cli/test_cli_startup.py checks that
every copy still equals its original.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import click

# escalation.config.DIGEST_DAYS
DIGEST_DAYS = ("working", "daily")
# escalation.reports.render.FORMATS
REPORT_FORMATS = ("table", "csv", "json", "html")
# the two statuses `outbox list` filters by: escalation.casework.models.OutboxStatus
OUTBOX_PENDING = "pending"
OUTBOX_FAILED = "failed"
# escalation.casework.notices.NoticeKind, in its order
NOTICE_KINDS = (
    "raised",
    "acknowledged",
    "acknowledgement_overdue",
    "response_received",
    "reminder",
    "overdue",
    "escalated_unanswered",
    "escalated_by_raiser",
    "lapse_prompt",
    "lapse_alert",
    "raiser_reminder",
    "paused",
    "resumed",
    "extended",
    "withdrawn",
    "resolved",
    "outcome_check",
    "outcome_reminder",
    "reopened",
    "closed",
)


class DeferredChoice(click.Choice[str]):
    """A `click.Choice` whose values are asked for the first time click needs them."""

    def __init__(self, values: Callable[[], Iterable[str]]) -> None:
        super().__init__(())  # click's own set-up; its empty placeholder is dropped below
        self._values = values
        self._loaded: tuple[str, ...] | None = None

    @property
    def choices(self) -> tuple[str, ...]:
        if self._loaded is None:
            self._loaded = tuple(self._values())
        return self._loaded

    @choices.setter
    def choices(self, values: Iterable[str]) -> None:
        self._loaded = tuple(values)


def _categories() -> list[str]:
    from escalation.rules.model import Category

    return [c.value for c in Category]


def _outcomes() -> list[str]:
    from escalation.rules.model import Outcome

    return [o.value for o in Outcome]


def _response_kinds() -> list[str]:
    from escalation.rules.model import ResponseKind

    return [k.value for k in ResponseKind]


CATEGORIES = DeferredChoice(_categories)
OUTCOMES = DeferredChoice(_outcomes)
RESPONSE_KINDS = DeferredChoice(_response_kinds)
