"""The partnership digest's figures, and their SQL: a report, so its queries live here rather
than in `store`. Every figure is for one partnership as of `now`:

- open challenges by level (state `level_<n>.…`), counted by the database with GROUP BY;
- overdue now: open challenges awaiting a response (the rule of `store._is_overdue`) whose
  current stage was due before `now`, most overdue first, with working days overdue;
- due soon: the same, due from `now` until close of business on the 5th working day after
  today (the protocol's own "N working days" rule);
- emails that reached nobody: `undeliverable` alerts created in the period, that is since this
  partnership's previous digest (so a missed day is covered by the next digest, not lost), or,
  before the first digest, since the same local time on the previous digest day;
- failed emails: outbox rows with status failed, listed until someone retries or dismisses them.

Counts come from the database; every list holds its first `LIST_CAP` lines and the total, so a
digest stays small whatever the number of challenges. Nothing here reads a child's details or
any free text except the engine-made problem line of an undeliverable alert, and of that only a
role and one of the challenge's own organisation names get through (`problem_words`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from escalation.casework.models import Challenge, Organisation, Stage
from escalation.casework.models_service import OutboxMessage, OutboxStatus
from escalation.mail.digest_email import (
    DIGEST,
    DueLine,
    FailedLine,
    LevelCount,
    Listing,
    UndeliverableLine,
)
from escalation.mail.emails import UNDELIVERABLE
from escalation.mail.recipients import partnership_contacts
from escalation.rules.model import Protocol, Role
from escalation.rules.states import AWAITING
from escalation.rules.workdays import Calendar, utc

WORKING_DAYS_AHEAD = 5
LIST_CAP = 50


@dataclass(frozen=True)
class Figures:
    """One partnership's digest as of a moment: the same for each of its contacts."""

    local_date: date
    period_start: datetime
    due_soon_until: datetime
    levels: tuple[LevelCount, ...]
    overdue: Listing[DueLine]
    due_soon: Listing[DueLine]
    undeliverable: Listing[UndeliverableLine]
    failed: Listing[FailedLine]
    has_admin_contact: bool
    link: str


def compute_figures(
    session: Session, protocol: Protocol, base_url: str, now: datetime, days: str = "working"
) -> Figures:
    calendar, partnership, now = protocol.calendar(), protocol.partnership, utc(now)
    today = calendar.local_date(now)
    until = calendar.closing(calendar.nth_working_day_after(today, WORKING_DAYS_AHEAD))
    since = _period_start(session, partnership, calendar, now, days)
    link = f"{base_url.rstrip('/')}/challenges"
    admins = partnership_contacts(session, partnership, Role.ADMIN)
    return Figures(
        local_date=today,
        period_start=since,
        due_soon_until=until,
        levels=_levels(protocol, open_by_level(session, partnership)),
        overdue=_due(session, partnership, calendar, link, now, Stage.due_at < now),
        due_soon=_due(
            session, partnership, calendar, link, now, Stage.due_at >= now, Stage.due_at <= until
        ),
        undeliverable=_undeliverable(session, partnership, link, since, now),
        failed=_failed(session, partnership),
        has_admin_contact=bool(admins),
        link=link,
    )


def _period_start(
    session: Session, partnership: str, calendar: Calendar, now: datetime, days: str
) -> datetime:
    """When this partnership's previous digest (on an earlier UK date) was made; before the first
    one, the same local time on the previous digest day."""
    today = calendar.local_date(now)
    previous = session.scalar(
        select(func.max(OutboxMessage.created_at)).where(
            OutboxMessage.kind == DIGEST,
            OutboxMessage.challenge_id.is_(None),
            OutboxMessage.idempotency_key.startswith(f"{DIGEST}:{partnership}:", autoescape=True),
            ~OutboxMessage.idempotency_key.startswith(
                f"{DIGEST}:{partnership}:{today.isoformat()}:", autoescape=True
            ),
            OutboxMessage.created_at < now,
        )
    )
    if previous is not None:
        return utc(previous)
    day = (
        calendar.nth_working_day_before(today, 1)
        if days == "working"
        else today - timedelta(days=1)
    )
    local_time = now.astimezone(calendar.tz).time()
    return utc(datetime.combine(day, local_time, tzinfo=calendar.tz))


def _open(partnership: str) -> ColumnElement[bool]:
    return and_(
        Challenge.partnership == partnership, Challenge.state.like("level\\_%", escape="\\")
    )


def open_by_level(session: Session, partnership: str) -> dict[int, int]:
    """Open challenges per level number, counted by the database."""
    query = (
        select(Challenge.level, func.count())
        .where(_open(partnership))
        .group_by(Challenge.level)
        .order_by(Challenge.level)
    )
    return {int(level): int(n) for level, n in session.execute(query) if level is not None}


def _levels(protocol: Protocol, counts: dict[int, int]) -> tuple[LevelCount, ...]:
    """Every level of the protocol, with zeros; a level known only to an older version too."""
    names = {level.number: level.name for level in protocol.levels}
    numbers = sorted(set(names) | set(counts))
    return tuple(LevelCount(n, names.get(n, f"level {n}"), counts.get(n, 0)) for n in numbers)


def _awaiting(columns: Iterable[Any], partnership: str, *where: ColumnElement[bool]) -> Select[Any]:
    """Open challenges awaiting a response, joined to their current (latest) stage."""
    statuses = [s.replace("_", "\\_") for s in AWAITING]
    later = aliased(Stage)
    # The current stage is the one no later stage follows: an anti-join, which the database can
    # run as one hash join instead of a subquery per challenge.
    newer = select(later.id).where(later.challenge_id == Stage.challenge_id, later.seq > Stage.seq)
    return (
        select(*columns)
        .select_from(Challenge)
        .join(Stage, Stage.challenge_id == Challenge.id)
        .where(
            ~newer.exists(),
            Challenge.partnership == partnership,
            or_(*(Challenge.state.like(f"level\\_%.{s}", escape="\\") for s in statuses)),
            Stage.due_at.is_not(None),
            *where,
        )
    )


def _due(
    session: Session,
    partnership: str,
    calendar: Calendar,
    link: str,
    now: datetime,
    *where: ColumnElement[bool],
) -> Listing[DueLine]:
    total = session.scalar(_awaiting([func.count()], partnership, *where))
    columns = [Challenge.reference, Challenge.level, Challenge.urgent, Stage.due_at]
    rows = session.execute(
        _awaiting([*columns, Organisation.name], partnership, *where)
        .join(Organisation, Organisation.id == Challenge.responding_org_id)
        .order_by(Stage.due_at, Challenge.id)
        .limit(LIST_CAP)
    ).all()
    today = calendar.local_date(now)
    lines = [
        DueLine(
            reference, level, org, utc(due), urgent,
            calendar.working_days_between(calendar.local_date(due), today) if due < now else None,
            f"{link}/{reference}",
        )
        for reference, level, urgent, due, org in rows
    ]  # fmt: skip
    return Listing(tuple(lines), int(total or 0))


def _failed(session: Session, partnership: str) -> Listing[FailedLine]:
    """Failed emails about this partnership's challenges, and its own failed digests."""
    ours = or_(
        Challenge.partnership == partnership,
        and_(
            OutboxMessage.challenge_id.is_(None),
            OutboxMessage.idempotency_key.startswith(f"{DIGEST}:{partnership}:", autoescape=True),
        ),
    )
    where = [OutboxMessage.status == OutboxStatus.FAILED.value, ours]
    joined = select(func.count()).select_from(OutboxMessage).outerjoin(Challenge)
    total = session.scalar(joined.where(*where))
    rows = session.execute(
        select(Challenge.reference, OutboxMessage.kind, OutboxMessage.recipient_role)
        .add_columns(OutboxMessage.created_at)
        .select_from(OutboxMessage)
        .outerjoin(Challenge)
        .where(*where)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(LIST_CAP)
    ).all()
    lines = [FailedLine(ref, kind, role, utc(at)) for ref, kind, role, at in rows]
    return Listing(tuple(lines), int(total or 0))


# --- Emails that reached nobody --------------------------------------------------------------

# The undeliverable alert's text says "… could not be delivered: <problem>." and the problem is
# engine-made (outbox.py, dispatch.py). It is re-read here, but only a role and one of the
# challenge's own organisation names get through: never a person's name or any free text.
_PROBLEM = re.compile(r"could not be delivered: (.+)\.$", re.MULTILINE)
_GAP = re.compile(r"^no contact for role ([a-z_]+) at (.+)$")
_NOT_DELIVERED = re.compile(r"^an email to .+ \(([a-z_]+)\) was not delivered$")
_ROLES = frozenset({*(role.value for role in Role), "raiser", "responder"})


def _undeliverable(
    session: Session, partnership: str, link: str, since: datetime, now: datetime
) -> Listing[UndeliverableLine]:
    where = [
        OutboxMessage.kind == UNDELIVERABLE,
        OutboxMessage.created_at >= since,
        OutboxMessage.created_at <= now,
        Challenge.partnership == partnership,
    ]
    distinct = func.count(func.distinct(OutboxMessage.challenge_id))
    total = session.scalar(
        select(distinct).select_from(OutboxMessage).join(Challenge).where(*where)
    )
    first = func.min(OutboxMessage.id)
    ids = session.scalars(
        select(OutboxMessage.challenge_id)
        .select_from(OutboxMessage)
        .join(Challenge)
        .where(*where)
        .group_by(OutboxMessage.challenge_id)
        .order_by(first)
        .limit(LIST_CAP)
    ).all()
    lines = _gap_lines(session, [i for i in ids if i is not None], where, link, partnership)
    return Listing(tuple(lines), int(total or 0))


def _gap_lines(
    session: Session,
    ids: list[int],
    where: list[ColumnElement[bool]],
    link: str,
    partnership: str,
) -> list[UndeliverableLine]:
    raising, responding = aliased(Organisation), aliased(Organisation)
    rows = session.execute(
        select(Challenge.id, Challenge.reference, raising.name, responding.name)
        .join(raising, raising.id == Challenge.raising_org_id)
        .join(responding, responding.id == Challenge.responding_org_id)
        .where(Challenge.id.in_(ids))
    ).all()
    texts = session.execute(
        select(Challenge.id, OutboxMessage.text_body)
        .select_from(OutboxMessage)
        .join(Challenge)
        .where(Challenge.id.in_(ids), *where)
        .order_by(OutboxMessage.id)
    ).all()
    found: dict[int, dict[str, None]] = {challenge_id: {} for challenge_id in ids}
    orgs = {row[0]: {row[2], row[3], f"{partnership} partnership business unit"} for row in rows}
    for challenge_id, text in texts:
        found[challenge_id][problem_words(text, orgs[challenge_id])] = None
    references = {row[0]: row[1] for row in rows}
    return [
        UndeliverableLine(references[i], tuple(found[i]), f"{link}/{references[i]}") for i in ids
    ]


def problem_words(text: str, organisations: Iterable[str]) -> str:
    """The problem an undeliverable alert names, reduced to a role and an organisation."""
    match = _PROBLEM.search(text)
    problem = match.group(1) if match else ""
    gap = _GAP.match(problem)
    if gap and gap.group(1) in _ROLES and gap.group(2) in set(organisations):
        return f"no contact for role {gap.group(1)} at {gap.group(2)}"
    failed = _NOT_DELIVERED.match(problem)
    if failed and failed.group(1) in _ROLES:
        return f"an email to the {failed.group(1)} contact was not delivered"
    return "an email was not delivered (see the challenge's chronology)"
