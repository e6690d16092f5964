"""The partnership digest email: what it may show, its templates, and their checks.

Templates: `templates/emails/digest/{subject.txt,body.txt,body.html}`. They do not extend the
per-challenge layouts (those are built around one challenge); each body carries the same footer
itself, and `digest_problems` checks that every rendered digest has the partnership's
immediate-risk numbers, the "as of" time and period in UK time, the link and every reference
it lists.

Privacy is enforced by shape, as for every email: a `DigestContext` holds counts, references,
levels, organisation names, roles, dates and links. It has no field for a child or for any
free text, so no template can show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from jinja2 import Environment, Template

from escalation.errors import InvalidInput
from escalation.mail.layout import (
    RenderedEmail,
    TemplateProblem,
    compile_template,
    lacks,
    one_line,
    render_part,
    risk_wanted,
    shape_problems,
    tidy,
)
from escalation.rules.dates import london
from escalation.rules.model import Protocol, RiskContact, Role

DIGEST = "digest"
DIGEST_TEMPLATES = tuple(
    f"emails/{DIGEST}/{part}" for part in ("subject.txt", "body.txt", "body.html")
)
# Values the renderer works out from the context and hands to the templates besides its fields.
_DERIVED = ("open_total",)

T = TypeVar("T")


@dataclass(frozen=True)
class Listing(Generic[T]):
    """The first few of a list, and how many there are in all."""

    items: tuple[T, ...]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.items)


@dataclass(frozen=True)
class LevelCount:
    number: int
    name: str
    open: int


@dataclass(frozen=True)
class DueLine:
    """An open challenge whose response is overdue, or due soon."""

    reference: str
    level: int | None
    responding_org: str
    due_at: datetime
    urgent: bool
    working_days_overdue: int | None  # None when it is not overdue
    link: str

    @property
    def overdue_by(self) -> str:
        """ "3 working days": working days after the due day, up to and including today."""
        days = self.working_days_overdue or 0
        return (
            f"{days} working day{'' if days == 1 else 's'}" if days else "less than a working day"
        )


@dataclass(frozen=True)
class UndeliverableLine:
    """A challenge some email about which reached nobody, and why (roles and organisations)."""

    reference: str
    problems: tuple[str, ...]
    link: str


@dataclass(frozen=True)
class FailedLine:
    reference: str | None  # None: an email about no one challenge (a digest)
    kind: str
    recipient_role: str
    queued_at: datetime


@dataclass(frozen=True)
class DigestContext:
    """Everything a digest may show: counts, references, levels, organisations, roles, dates."""

    partnership_name: str
    recipient_name: str
    recipient_role: str
    as_of: datetime
    period_start: datetime
    due_soon_until: datetime
    working_days_ahead: int
    levels: tuple[LevelCount, ...]
    overdue: Listing[DueLine]
    due_soon: Listing[DueLine]
    undeliverable: Listing[UndeliverableLine]
    failed: Listing[FailedLine]
    has_admin_contact: bool
    link: str
    immediate_risk: tuple[RiskContact, ...]

    def __post_init__(self) -> None:
        for name in ("as_of", "period_start", "due_soon_until"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                raise InvalidInput(name, f"{value.isoformat()} has no timezone")
        if not self.link.startswith(("https://", "http://")):
            raise InvalidInput("link", f"{self.link!r} must start with https:// or http://")


class DigestRenderer:
    """The digest templates, loaded and checked at construction, in the emails' environment."""

    def __init__(self, environment: Environment, root: Path) -> None:
        self._templates: dict[str, Template] = {}
        problems: list[str] = []
        for name in DIGEST_TEMPLATES:
            allowed = _allowed_names(name)
            template, found = compile_template(environment, root, name, allowed, None)
            problems += found
            if template is not None:
                self._templates[name] = template
        if problems:
            raise TemplateProblem(problems)

    def render(self, context: DigestContext) -> RenderedEmail:
        if not context.immediate_risk:
            raise TemplateProblem(
                [f"{DIGEST}: no immediate-risk contacts: every email must end with them"]
            )
        values = {f.name: getattr(context, f.name) for f in fields(context)}
        values["open_total"] = sum(level.open for level in context.levels)
        subject = one_line(self._part("subject.txt", values), DIGEST_TEMPLATES[0])
        values["subject"] = subject
        text = tidy(self._part("body.txt", values))
        html = self._part("body.html", values).strip() + "\n"
        return RenderedEmail(subject, text, html)

    def _part(self, part: str, values: dict[str, Any]) -> str:
        name = f"emails/{DIGEST}/{part}"
        return render_part(self._templates[name], name, DIGEST, values)


def _allowed_names(name: str) -> set[str]:
    names = {f.name for f in fields(DigestContext)} | set(_DERIVED)
    return names if name.endswith("subject.txt") else names | {"subject"}


# --- Samples and checks ----------------------------------------------------------------------

SAMPLE_AS_OF = datetime(2027, 1, 4, 7, 30, tzinfo=UTC)  # Monday, GMT
_SAMPLE_PREVIOUS = datetime(2026, 12, 31, 7, 30, tzinfo=UTC)  # the working day before
_SAMPLE_OVERDUE = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 1 working day overdue
_SAMPLE_DUE = datetime(2027, 1, 6, 17, 0, tzinfo=UTC)
_SAMPLE_UNTIL = datetime(2027, 1, 11, 17, 0, tzinfo=UTC)  # 5 working days after 4 January


def sample_digest(protocol: Protocol, full: bool = True) -> DigestContext:
    """A fictional digest under `protocol`: every section filled and cut short, or all empty."""
    base = "https://escalation.example.org/challenges"
    refs = [f"{protocol.reference_prefix}-2026-{n:05d}" for n in (7, 12, 31)]
    org = f"{protocol.partnership.title()} Children's Social Care Front Door"
    top = protocol.levels[-1]
    due = DueLine(refs[0], top.number, org, _SAMPLE_OVERDUE, False, 1, "")
    soon = DueLine(refs[1], 1, org, _SAMPLE_DUE, True, None, "")
    gap = f"no contact for role {Role.SENIOR_MANAGER.value} at {org}"
    return DigestContext(
        partnership_name=protocol.partnership_name,
        recipient_name="Pip Business Manager",
        recipient_role=Role.PARTNERSHIP.value,
        as_of=SAMPLE_AS_OF,
        period_start=_SAMPLE_PREVIOUS,
        due_soon_until=_SAMPLE_UNTIL,
        working_days_ahead=5,
        levels=tuple(LevelCount(lv.number, lv.name, 3 * full) for lv in protocol.levels),
        overdue=_listing([replace(due, link=f"{base}/{refs[0]}")], 4, full),
        due_soon=_listing([replace(soon, link=f"{base}/{refs[1]}")], 1, full),
        undeliverable=_listing([UndeliverableLine(refs[2], (gap,), f"{base}/{refs[2]}")], 2, full),
        failed=_listing(
            [
                FailedLine(refs[2], "raised", "dsl", SAMPLE_AS_OF),
                FailedLine(None, DIGEST, "partnership", SAMPLE_AS_OF),
            ],
            2,
            full,
        ),
        has_admin_contact=full,
        link=base,
        immediate_risk=protocol.immediate_risk,
    )


def _listing(items: list[T], total: int, full: bool) -> Listing[T]:
    return Listing(tuple(items), total) if full else Listing((), 0)


def check_digest(renderer: DigestRenderer, protocols: Iterable[Protocol]) -> list[str]:
    """Render a full and an empty digest under every protocol; return every problem."""
    problems: list[str] = []
    for protocol in protocols:
        for full in (True, False):
            label = f"{protocol.key}: digest ({'full' if full else 'empty'})"
            context = sample_digest(protocol, full)
            try:
                email = renderer.render(context)
            except TemplateProblem as exc:
                problems += [f"{label}: {line}" for line in exc.problems]
                continue
            problems += [f"{label}: {line}" for line in digest_problems(email, context)]
    return problems


def digest_problems(email: RenderedEmail, context: DigestContext) -> list[str]:
    """What a rendered digest lacks of what it must carry."""
    wanted = [context.partnership_name, context.link, london(context.as_of)]
    wanted += [london(context.period_start), london(context.due_soon_until)]
    wanted += [f"Level {level.number}" for level in context.levels]
    wanted += [line.reference for line in (*context.overdue.items, *context.due_soon.items)]
    wanted += [line.reference for line in context.undeliverable.items]
    wanted += [line.reference for line in context.failed.items if line.reference]
    listings = (context.overdue, context.due_soon, context.undeliverable, context.failed)
    wanted += [f"and {listing.more} more" for listing in listings if listing.more]
    wanted += risk_wanted(context.immediate_risk)
    problems = lacks(email, wanted) + shape_problems(email, context.link)
    if context.partnership_name not in email.subject:
        problems.append(f"subject {email.subject!r} lacks the partnership's name")
    return problems
