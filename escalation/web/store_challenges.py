"""The SQL of what the web's pages and API read of the record: which challenges a signed-in
reader may see (`visible`, a WHERE clause every read goes through), one challenge, the lists of
challenges (the reader's page, the API's, the partnership dashboard's open challenges), who the
"raised" email went to, and an organisation looked up by name. (`web.store` holds the web's own
tables: sessions, links, API tokens, drafts.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Row, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from escalation.casework.models import Challenge, Contact, Organisation, Stage
from escalation.casework.models_service import OutboxMessage
from escalation.casework.notices import NoticeKind
from escalation.rules.states import AWAITING, FINISHED

FINISHED_STATES = sorted(status.value for status in FINISHED)


def _with_parties(query: Select[Challenge]) -> Select[Challenge]:
    """Each challenge with its stages and both organisations loaded (the pages render after
    the transaction, and a list would otherwise load them one challenge at a time)."""
    return query.options(
        selectinload(Challenge.stages),
        selectinload(Challenge.raising_org),
        selectinload(Challenge.responding_org),
    )


# -- what an organisation may see ------------------------------------------------------------------


def visible(
    organisation_id: int, partnership: str | None, scope_reference: str | None
) -> ColumnElement[bool]:
    """The challenges a reader may see, as a WHERE clause.

    `partnership` is set for the partnership's own business unit (every challenge of that
    partnership, and no other's); otherwise an organisation sees what it raised or was asked to
    answer. `scope_reference` narrows a session begun from an email link to that one challenge.
    """
    clause: ColumnElement[bool] = or_(
        Challenge.raising_org_id == organisation_id,
        Challenge.responding_org_id == organisation_id,
    )
    if partnership is not None:  # and what it raised or answers for another partnership's child
        clause = or_(Challenge.partnership == partnership, clause)
    if scope_reference is not None:
        clause = clause & (Challenge.reference == scope_reference)
    return clause


def visible_challenge(
    session: Session, clause: ColumnElement[bool], reference: str
) -> Challenge | None:
    """The challenge with this reference if `clause` (a reader's `visible()`) lets them see it,
    with its stages and organisations loaded; None both when it does not exist and when it is
    not theirs to see (the caller answers 404 either way)."""
    return session.scalars(
        _with_parties(select(Challenge).where(clause, Challenge.reference == reference))
    ).one_or_none()


def can_see(session: Session, clause: ColumnElement[bool], reference: str | None) -> bool:
    """Whether `clause` (a reader's `visible()`) lets them see the challenge `reference`."""
    found = session.scalar(select(Challenge.id).where(clause, Challenge.reference == reference))
    return found is not None


def challenge_named(session: Session, reference: str | None) -> Challenge | None:
    """The challenge with this reference, whoever asks (an email link's own check follows)."""
    return session.scalar(select(Challenge).where(Challenge.reference == reference))


def raised_emailed(session: Session, challenge: Challenge) -> list[str]:
    """The names the "raised" email went to on the responding side, in the order it was
    queued, each once: the organisation's directory contacts and the named responder."""
    contacts = select(Contact.email).where(Contact.organisation_id == challenge.responding_org_id)
    names = session.scalars(
        select(OutboxMessage.recipient_name)
        .where(
            OutboxMessage.challenge_id == challenge.id,
            OutboxMessage.kind == NoticeKind.RAISED.value,
            or_(
                OutboxMessage.recipient_email.in_(contacts),
                OutboxMessage.recipient_email == (challenge.responder_email or ""),
            ),
        )
        .order_by(OutboxMessage.id)
    )
    return list(dict.fromkeys(names))


def organisation_id_named(session: Session, name: str, partnership: str) -> int | None:
    """The id of the partnership's organisation with this name, in any case."""
    return session.scalar(
        select(Organisation.id).where(
            func.lower(Organisation.name) == name.lower(),
            Organisation.partnership == partnership.lower(),
        )
    )


# -- the reader's list of challenges ---------------------------------------------------------------


def to_list(
    session: Session, clause: ColumnElement[bool], after_resolution: Sequence[str], since: datetime
) -> Sequence[Challenge]:
    """What a reader's list can show, oldest first: open, in one of the `after_resolution`
    states (the outcome check may be owed), or closed or withdrawn since `since`."""
    query = select(Challenge).where(
        clause,
        or_(
            Challenge.state.like("level\\_%", escape="\\"),
            Challenge.state.in_(after_resolution),
            Challenge.closed_at >= since,
            Challenge.withdrawn_at >= since,
        ),
    )
    return session.scalars(_with_parties(query).order_by(Challenge.raised_at, Challenge.id)).all()


# -- the API's list of challenges ------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """Which challenges an API client lists: those `clause` (its `visible()`) lets it see;
    `finished` True only the withdrawn and closed, False only the others, None all; `at_a_level`
    only those with a level in play (the only ones that can be overdue)."""

    clause: ColumnElement[bool]
    finished: bool | None
    at_a_level: bool

    def query(self) -> Select[Challenge]:
        query = select(Challenge).where(self.clause)
        if self.finished is False:
            query = query.where(Challenge.state.not_in(FINISHED_STATES))
        elif self.finished is True:
            query = query.where(Challenge.state.in_(FINISHED_STATES))
        if self.at_a_level:
            query = query.where(Challenge.state.like("level\\_%", escape="\\"))
        return query


def listed_count(session: Session, listing: Listing) -> int:
    return session.scalar(select(func.count()).select_from(listing.query().subquery())) or 0


def listed(
    session: Session, listing: Listing, limit: int | None = None, offset: int = 0
) -> list[Challenge]:
    """Oldest first (so paging is stable while new challenges arrive), with their stages and
    organisations; every one when `limit` is None."""
    query = _with_parties(listing.query().order_by(Challenge.raised_at, Challenge.id))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list(session.scalars(query))


# -- the partnership dashboard ---------------------------------------------------------------------


def _open(partnership: str) -> ColumnElement[bool]:
    """Open: a level is in play (state `level_<n>.…`), as the report counts them."""
    return and_(
        Challenge.partnership == partnership, Challenge.state.like("level\\_%", escape="\\")
    )


def open_count(session: Session, partnership: str) -> int:
    total = session.scalar(select(func.count()).select_from(Challenge).where(_open(partnership)))
    return int(total or 0)


def open_lines(
    session: Session, partnership: str, now: datetime, offset: int, limit: int
) -> Sequence[Row[str, str, bool, datetime | None, str, str]]:
    """A page of the partnership's open challenges, most overdue first, then by due time
    (those not awaiting a response last): rows of (reference, state, urgent, the current
    stage's due time, raising organisation's name, responding organisation's name)."""
    raiser, responder = aliased(Organisation), aliased(Organisation)
    statuses = [status.replace("_", "\\_") for status in AWAITING]
    awaiting = or_(*(Challenge.state.like(f"level\\_%.{s}", escape="\\") for s in statuses))
    overdue = and_(awaiting, Stage.due_at < now)
    return session.execute(
        select(
            Challenge.reference,
            Challenge.state,
            Challenge.urgent,
            Stage.due_at,
            raiser.name,
            responder.name,
        )
        .select_from(Challenge)
        # The current stage of an open challenge is its one stage not ended (as the report's).
        .outerjoin(Stage, and_(Stage.challenge_id == Challenge.id, Stage.ended_at.is_(None)))
        .join(raiser, raiser.id == Challenge.raising_org_id)
        .join(responder, responder.id == Challenge.responding_org_id)
        .where(_open(partnership))
        .order_by(
            case((overdue, 0), else_=1),
            case((awaiting, 0), else_=1),
            Stage.due_at,
            Challenge.id,
        )
        .offset(offset)
        .limit(limit)
    ).all()


def first_raised(session: Session, partnership: str) -> datetime | None:
    """When the partnership's first challenge was raised; None when it has none."""
    return session.scalar(
        select(func.min(Challenge.raised_at)).where(Challenge.partnership == partnership)
    )
