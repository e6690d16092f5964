"""Checking what a user gives us, field by field, before anything is written.

Every problem raises `InvalidInput(field, problem)`; the field names are those of the CLI options
(without the leading dashes) and of the JSON API to come. The length limits are read from the
model's `String(n)` columns, so a value that passes here always fits its column: PostgreSQL
refuses a longer one with an error that would otherwise be a traceback, and SQLite stores it.
Also here: which organisation a challenge may be addressed to (`responding_org`), one rule for
the pages, the API and the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from email_validator import EmailNotValidError, validate_email

from escalation.casework.base import Base
from escalation.casework.models import Challenge, Organisation
from escalation.errors import InvalidInput
from escalation.rules.model import Category, OrgType, Outcome, Protocol, ResponseKind, Role
from escalation.rules.workdays import FIRST_YEAR, LAST_YEAR

E = TypeVar("E", bound=StrEnum)


def column_length(model: type[Base], name: str) -> int:
    """The n of a model's `String(n)` column, e.g. 64 for `Challenge.child_ref`."""
    length = model.__table__.columns[name].type.length  # type: ignore[attr-defined]
    if not isinstance(length, int):
        raise TypeError(f"{model.__name__}.{name} is not a String(n) column")
    return length


NAME_LIMIT = column_length(Challenge, "raiser_name")  # names and teams; also "who" did it
REFERENCE_LIMIT = column_length(Challenge, "child_ref")  # the child's and the decision's
TEXT_LIMIT = 10_000  # free text (Text columns): a page of A4 several times over


@dataclass
class RaiseRequest:
    """Everything PROTOCOL.md §6 records when a challenge is raised, as the user typed it."""

    partnership: str
    raising_org: str
    raiser_name: str
    responding_org: str
    child_ref: str
    category: str
    decision: str
    concern: str
    desired_outcome: str
    voice_of_child: str
    raiser_email: str | None = None
    responding_team: str | None = None
    responder_name: str | None = None
    responder_email: str | None = None
    child_initials: str | None = None
    child_birth_year: int | None = None
    siblings_affected: int = 0
    decision_date: str | None = None
    decision_ref: str | None = None
    need_raiser_view: int | None = None
    need_decision: int | None = None
    evidence: str | None = None
    urgent: bool = False
    start_level: int = 1
    start_reason: str | None = None
    # The web and the API know the organisations' ids: names are unique only within a
    # partnership. When given, an id wins over the name.
    raising_org_id: int | None = None
    responding_org_id: int | None = None


@dataclass(frozen=True)
class Resolution:
    outcome: str
    statement: str
    life_improvement: str
    recorded_on_both_files: bool | None = None


def text(name: str, value: str | None, limit: int = TEXT_LIMIT) -> str:
    if value is None or not value.strip():
        raise InvalidInput(name, "is required and must not be empty")
    if len(value) > limit:
        raise InvalidInput(name, f"is {len(value)} characters long; the limit is {limit}")
    if "\x00" in value:  # PostgreSQL refuses it in text: a clear error, not a failed write
        raise InvalidInput(name, "contains a NUL character")
    return value.strip()


def line(name: str, value: str | None, limit: int = NAME_LIMIT) -> str:
    """One line of text (a name, a team): it may go into an email header, so no line breaks."""
    checked = text(name, value, limit)
    if any(ord(char) < 32 or ord(char) == 127 for char in checked):
        raise InvalidInput(name, "must be one line, without line breaks or control characters")
    return checked


def optional_line(name: str, value: str | None, limit: int = NAME_LIMIT) -> str | None:
    return None if value is None or not value.strip() else line(name, value, limit)


def optional_text(name: str, value: str | None, limit: int = TEXT_LIMIT) -> str | None:
    return None if value is None or not value.strip() else text(name, value, limit)


def choice(name: str, value: str | None, enum: type[E]) -> E:
    options = ", ".join(member.value for member in enum)
    if value is None or value.strip() == "":
        raise InvalidInput(name, f"is required; one of {options}")
    try:
        return enum(value.strip().lower().replace("-", "_"))
    except ValueError:
        raise InvalidInput(name, f"{value!r} is not one of {options}") from None


def email(name: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(name, f"{value!r} is not a valid email address ({exc})") from None


def need_level(name: str, value: int | None, protocol: Protocol) -> int | None:
    if value is None:
        return None
    if value not in protocol.levels_of_need:
        known = ", ".join(f"{k} {v}" for k, v in sorted(protocol.levels_of_need.items()))
        raise InvalidInput(name, f"{value} is not a level of need in {protocol.id} ({known})")
    return value


def past_date(name: str, value: str | None, today: date) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(name, f"{value!r} is not a date like 2026-11-20") from None
    if parsed > today:
        raise InvalidInput(name, f"{parsed} is in the future")
    return within_years(name, parsed).isoformat()


def within_years(name: str, value: date) -> date:
    """A date a user gave, refused outside the years the service keeps records for."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidInput(
            name, f"{value.isoformat()} is not between the years {FIRST_YEAR} and {LAST_YEAR}"
        )
    return value


def partnership(name: str, value: str | None, known: list[str]) -> str:
    """One of the `known` partnerships (lower case); a miss lists them."""
    given = text(name, value, column_length(Challenge, "partnership")).lower()
    if given not in known:
        listed = ", ".join(known) or "none"
        raise InvalidInput(name, f"{given!r} is not a known partnership (known: {listed})")
    return given


def responding_org(
    protocol: Protocol, level: int | None, raising_id: int, org: Organisation
) -> None:
    """May `org` answer a challenge raised by organisation `raising_id` under `protocol`,
    starting at `level` (None: at whichever level it will start)? Never the raiser's
    own; a partnership business unit only its own partnership's, and only at a level its
    protocol says the partnership answers: units oversee challenges, they do not make the
    decisions challenged, and whoever answers reads the child's record."""
    if org.id == raising_id:
        raise InvalidInput("responding-org", "must differ from the raising organisation")
    if org.type != OrgType.PARTNERSHIP.value:
        return
    if org.partnership != protocol.partnership:
        raise InvalidInput(
            "responding-org",
            f"is the business unit of another partnership ({org.partnership}); name the "
            "organisation that made the decision",
        )
    answering = [lvl.number for lvl in protocol.levels if Role.PARTNERSHIP in lvl.responder_roles]
    if (level not in answering) if level is not None else not answering:
        where = "any level" if level is None else f"level {level}"
        raise InvalidInput(
            "responding-org",
            f"is a partnership business unit, which does not answer challenges at {where} of "
            f"{protocol.id}; name the organisation that made the decision",
        )


def initials(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if not re.fullmatch(r"[A-Za-z]{1,4}", value.strip()):
        # Never echoed back: an error goes to logs and API bodies, and initials are the child's.
        raise InvalidInput("child-initials", "must be 1 to 4 letters, e.g. JS")
    return value.strip().upper()


def birth_year(value: int | None, now: datetime) -> int | None:
    if value is None:
        return None
    if not now.year - 19 <= value <= now.year:
        raise InvalidInput(
            "child-birth-year",
            f"is not a child's year of birth: it must be {now.year - 19}–{now.year}",
        )
    return value


def start_level(value: int, reason: str | None, protocol: Protocol) -> tuple[int, str | None]:
    numbers = [level.number for level in protocol.levels]
    if value not in numbers:
        raise InvalidInput(
            "start-level", f"{value} is not a level of {protocol.id} ({numbers[0]}–{numbers[-1]})"
        )
    if value > numbers[0]:
        return value, text("start-reason", reason, 2000)
    return value, optional_text("start-reason", reason, 2000)


def resolution(value: Resolution) -> dict[str, Any]:
    return {
        "outcome": choice("outcome", value.outcome, Outcome).value,
        "statement": text("statement", value.statement),
        "life_improvement": text("life-improvement", value.life_improvement),
        "recorded_on_both_files": value.recorded_on_both_files,
    }


def response_kind(value: str | None) -> str:
    return choice("kind", value, ResponseKind).value


def category(value: str | None) -> str:
    return choice("category", value, Category).value


_ACTION_RE = re.compile(r"^(?P<what>[^|]+?)\s*(\|\s*(?P<owner>[^|]+?)\s*)?(\|\s*(?P<by>[^|]+?))?$")


def actions(values: list[str] | tuple[str, ...]) -> list[dict[str, str | None]]:
    """Actions given as "what | owner | YYYY-MM-DD" (owner and date optional)."""
    parsed = []
    for index, raw in enumerate(values, start=1):
        match = _ACTION_RE.match(raw.strip())
        if match is None or not match.group("what").strip():
            raise InvalidInput(
                f"action[{index}]",
                "is not like 'what | owner | 2026-12-01'",  # free text: not echoed
            )
        by = match.group("by")
        if by is not None:
            try:
                by = within_years(f"action[{index}]", date.fromisoformat(by)).isoformat()
            except ValueError:
                raise InvalidInput(  # the value is not repeated: it is free text
                    f"action[{index}]", "the part after the second | is not a date like 2026-12-01"
                ) from None
        parsed.append(
            {"what": match.group("what").strip(), "owner": match.group("owner"), "by": by}
        )
    return parsed
