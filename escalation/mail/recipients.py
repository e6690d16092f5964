"""Who receives a notice: contacts from the directory by role, per the protocol's level.

PROTOCOL.md §5: each level names the roles addressed on the raising and the responding side; the
partnership business unit is copied from the levels that say so and on every resolution. The
named raiser and responder (when the challenge records their email) are always included on their
side. A role with no contact is never skipped silently: it is returned as a gap, for the
chronology and the partnership's admin alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from escalation.casework.models import Challenge, Contact, Organisation
from escalation.casework.notices import Audience, Notice
from escalation.casework.store_batch import Batch
from escalation.mail import store as store_mail
from escalation.rules.model import Protocol, Role


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    role: str
    audience: Audience


@dataclass(frozen=True)
class Gap:
    """A role the protocol addresses that has no contact in the directory."""

    role: str
    organisation: str

    def describe(self) -> str:
        return f"no contact for role {self.role} at {self.organisation}"


@dataclass(frozen=True)
class Addressees:
    recipients: tuple[Recipient, ...]
    gaps: tuple[Gap, ...]


def addressees(
    session: Session,
    challenge: Challenge,
    protocol: Protocol,
    notice: Notice,
    batch: Batch | None = None,
) -> Addressees:
    """Who receives `notice`, and the roles nobody fills; from the sweep's `batch` if given."""
    level = protocol.level(notice.level) if notice.level is not None else None
    found: list[Recipient] = []
    gaps: list[Gap] = []
    for audience in notice.audience:
        if audience is Audience.PARTNERSHIP:
            _add(
                found,
                gaps,
                partnership_contacts(session, challenge.partnership, Role.PARTNERSHIP, batch),
                Role.PARTNERSHIP,
                f"{challenge.partnership} partnership business unit",
                audience,
            )
            continue
        if audience is Audience.RAISER_MANAGER:
            above = notice.level + 1 if notice.level is not None else None
            if above is None or above > protocol.top_level:
                continue
            org = challenge.raising_org
            for role in protocol.level(above).raiser_roles:
                contacts = _contacts(session, org, role, batch)
                _add(found, gaps, contacts, role, org.name, Audience.RAISER)
            continue
        raising = audience is Audience.RAISER
        org = challenge.raising_org if raising else challenge.responding_org
        roles = (level.raiser_roles if raising else level.responder_roles) if level else ()
        for role in roles:
            _add(found, gaps, _contacts(session, org, role, batch), role, org.name, audience)
        _add_named(found, challenge, raising, audience)
    return Addressees(tuple(_unique(found)), tuple(dict.fromkeys(gaps)))


def partnership_contacts(
    session: Session, partnership: str, role: Role, batch: Batch | None = None
) -> Sequence[Contact]:
    """Contacts with `role` in the partnership's own business unit(s); a `batch` keeps them
    for its other challenges of the partnership."""
    if batch is None:
        return store_mail.partnership_contacts(session, partnership, role.value)
    key = (partnership, role.value)
    if key not in batch.by_partnership:
        found = store_mail.partnership_contacts(session, partnership, role.value)
        batch.by_partnership[key] = list(found)
    return batch.by_partnership[key]


def _contacts(
    session: Session, org: Organisation, role: Role, batch: Batch | None
) -> Sequence[Contact]:
    if batch is not None and org.id in batch.org_ids:
        return batch.contacts.get((org.id, role.value), [])
    return store_mail.contacts_with_role(session, org.id, role.value)


def _add(
    found: list[Recipient],
    gaps: list[Gap],
    contacts: Sequence[Contact],
    role: Role,
    where: str,
    audience: Audience,
) -> None:
    if not contacts:
        gaps.append(Gap(role.value, where))
    found.extend(Recipient(c.email, c.name, c.role, audience) for c in contacts)


def _add_named(
    found: list[Recipient], challenge: Challenge, raising: bool, audience: Audience
) -> None:
    email = challenge.raiser_email if raising else challenge.responder_email
    name = challenge.raiser_name if raising else challenge.responder_name
    if email:
        found.append(
            Recipient(email, name or email, "raiser" if raising else "responder", audience)
        )


def _unique(recipients: list[Recipient]) -> list[Recipient]:
    """One message per email address; the first role it was found under is kept."""
    seen: dict[str, Recipient] = {}
    for recipient in recipients:
        seen.setdefault(recipient.email.lower(), recipient)
    return list(seen.values())
