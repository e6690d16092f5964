"""Notices become rendered outbox rows in the event's own transaction; the file mailer writes them.

Runs on SQLite and PostgreSQL. The privacy test puts marker strings in every field about the
child and the concern and checks that none reaches any queued or written email.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import sweep
from escalation.casework.intake import Resolution
from escalation.casework.models import Challenge, ChronologyEntry
from escalation.casework.models_service import OutboxMessage, OutboxStatus
from escalation.casework.notices import Audience, Notice, NoticeKind
from escalation.casework.service import Service
from escalation.errors import InvalidInput
from escalation.mail.dispatch import dismiss, dispatch_once, retry
from escalation.mail.emails import EmailRenderer
from escalation.mail.mailer import Delivery, FileMailer, Outcome
from escalation.mail.outbox import OutboxNotifier
from escalation.rules.registry import ProtocolRegistry
from tests.conftest import (
    BUSINESS_MANAGER,
    FIXTURES,
    PRIVACY_MARKERS,
    SCHOOL_DSL,
    SOCIAL_WORKER,
    london,
    raise_request,
)

MONDAY_7_DEC_10AM = london("2026-12-07 10:00")
SENDER = "Case Resolution Protocol <no-reply@example.org>"


@pytest.fixture
def mailing(service: Service, registry: ProtocolRegistry) -> Service:
    """The persona service, with the outbox notifier instead of the record-only one."""
    service.notifier = OutboxNotifier(registry, EmailRenderer(), "https://escalation.example.org")
    return service


def rows(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_it_queues_the_raise_to_each_side_of_level_1_in_the_same_transaction(
    mailing: Service,
) -> None:
    reference = mailing.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    queued = rows(mailing.sessions)
    assert {(r.recipient_email, r.kind) for r in queued} == {
        ("sam.teacher@ashcombe.example.org", "raised"),  # raiser side: practitioner
        ("dsl@ashcombe.example.org", "raised"),  # the named raiser
        ("frontdoor.sw@devon.example.org", "raised"),  # responder side: practitioner
    }
    for row in queued:
        assert reference in row.subject
        assert f"https://escalation.example.org/challenges/{reference}" in row.text_body
        assert row.status == OutboxStatus.PENDING.value
        assert row.message_id.endswith("@escalation.example.org>")
    with mailing.sessions() as session:
        [entry] = session.scalars(select(ChronologyEntry)).all()
    assert "email to Alex Social Worker (practitioner)" in entry.action


def test_it_records_a_role_with_no_contact_instead_of_skipping_it(mailing: Service) -> None:
    mailing.raise_challenge(
        raise_request(
            partnership="plymouth",
            responding_org="Plymouth Gateway",
            start_level=3,
            start_reason="Risk rising",
            need_raiser_view=None,
            need_decision=None,
        ),
        MONDAY_7_DEC_10AM,
    )
    with mailing.sessions() as session:
        [entry] = session.scalars(select(ChronologyEntry)).all()
    assert "no contact for role senior_manager at Plymouth Gateway" in entry.action
    assert "no admin contact in plymouth to alert" in entry.action


def test_it_never_queues_the_same_message_twice_for_one_event(
    mailing: Service, registry: ProtocolRegistry
) -> None:
    reference = mailing.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    before = len(rows(mailing.sessions))
    notice = Notice(NoticeKind.RAISED, 1, (Audience.RAISER, Audience.RESPONDER))
    with mailing.sessions.begin() as session:
        challenge = session.scalars(select(Challenge).where(Challenge.reference == reference)).one()
        mailing.notifier.queue(session, challenge, notice, MONDAY_7_DEC_10AM, "entry1")
    assert len(rows(mailing.sessions)) == before


def test_it_writes_each_message_once_as_an_eml_file(mailing: Service, tmp_path: Path) -> None:
    mailing.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    mailer = FileMailer(tmp_path / "outbox", SENDER)
    first = dispatch_once(mailing, mailer, london("2026-12-07 10:05"))
    second = dispatch_once(mailing, mailer, london("2026-12-07 10:10"))
    assert (first.sent, second.sent) == (3, 0)
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 3
    message = message_from_bytes(files[0].read_bytes())
    row = rows(mailing.sessions)[0]
    assert message["Message-ID"] == row.message_id
    assert message.is_multipart()
    assert {part.get_content_type() for part in message.walk()} >= {"text/plain", "text/html"}
    assert all(r.status == OutboxStatus.SENT.value for r in rows(mailing.sessions))


MARKERS = PRIVACY_MARKERS


def test_it_keeps_every_child_detail_out_of_every_email(mailing: Service, tmp_path: Path) -> None:
    reference = mailing.raise_challenge(raise_request(**MARKERS), MONDAY_7_DEC_10AM)
    mailing.acknowledge(reference, SOCIAL_WORKER, london("2026-12-07 14:00"))
    sweep.run_once(mailing, london("2026-12-14 17:05"))  # lapses to level 2
    mailing.escalate(reference, SCHOOL_DSL, "MARKER-REASON-3321", london("2026-12-15 09:00"))
    mailing.resolve(
        reference,
        SCHOOL_DSL,
        Resolution("decision_changed", "MARKER-STATEMENT-8876", "MARKER-LIFE-5543", True),
        london("2026-12-16 09:00"),
    )
    dispatch_once(mailing, FileMailer(tmp_path, SENDER), london("2026-12-16 09:05"))
    queued = rows(mailing.sessions)
    assert len(queued) > 10
    texts = [f"{r.subject}\n{r.text_body}\n{r.html_body}\n{r.recipient_name}" for r in queued]
    texts += [path.read_bytes().decode("utf-8", "replace") for path in tmp_path.glob("*.eml")]
    for text in texts:
        for marker in [*MARKERS.values(), "MARKER-REASON", "MARKER-STATEMENT", "MARKER-LIFE"]:
            assert marker.split()[0] not in text
        assert "QZX" not in text


def test_it_queues_nothing_when_the_event_fails(mailing: Service) -> None:
    with pytest.raises(Exception, match="category"):
        mailing.raise_challenge(raise_request(category="nonsense"), MONDAY_7_DEC_10AM)
    with mailing.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_it_ships_a_fixture_directory_with_no_admin_contact() -> None:
    # The gap test above relies on this: the personas' directory has no admin role.
    assert ",admin," not in (FIXTURES / "directory.csv").read_text()


class ScriptedMailer:
    """An in-memory mailer that answers each attempt from a script, for the retry rules."""

    def __init__(self, *answers: Delivery) -> None:
        self.answers = list(answers)
        self.attempts: list[str] = []

    def send_batch(self, batch: Sequence[OutboxMessage]) -> dict[int, Outcome]:
        outcomes = {}
        for row in batch:
            self.attempts.append(row.message_id)
            delivery = self.answers.pop(0) if self.answers else Delivery.SENT
            detail = {
                "sent": "250 OK",
                "temporary": "451 4.3.0 try later",
                "permanent": "550 5.1.1 mailbox unknown",
            }[delivery.value]
            outcomes[row.id] = Outcome(delivery, detail)
        return outcomes


def one_queued_message(mailing: Service) -> str:
    reference = mailing.raise_challenge(raise_request(raiser_email=None), MONDAY_7_DEC_10AM)
    with mailing.sessions.begin() as session:  # keep only the first message, for clarity
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id > 1)):
            row.status = OutboxStatus.SENT.value
    return reference


def test_it_retries_a_temporary_failure_with_backoff_and_the_same_message_id(
    mailing: Service,
) -> None:
    one_queued_message(mailing)
    mailer = ScriptedMailer(Delivery.TEMPORARY, Delivery.TEMPORARY, Delivery.SENT)
    assert dispatch_once(mailing, mailer, london("2026-12-07 10:05")).retrying == 1
    assert (
        dispatch_once(mailing, mailer, london("2026-12-07 10:05:30")).retrying == 0
    )  # waits 1 min
    assert dispatch_once(mailing, mailer, london("2026-12-07 10:06")).retrying == 1
    assert dispatch_once(mailing, mailer, london("2026-12-07 10:07")).sent == 0  # now waits 2 min
    assert dispatch_once(mailing, mailer, london("2026-12-07 10:08")).sent == 1
    [row] = [r for r in rows(mailing.sessions) if r.id == 1]
    assert (row.status, row.attempts) == (OutboxStatus.SENT.value, 3)
    assert len(set(mailer.attempts)) == 1  # every attempt carried the same Message-ID


def test_it_fails_a_permanent_refusal_into_the_chronology_and_can_retry_it(
    mailing: Service,
) -> None:
    reference = one_queued_message(mailing)
    dispatch_once(mailing, ScriptedMailer(Delivery.PERMANENT), london("2026-12-07 10:05"))
    [row] = [r for r in rows(mailing.sessions) if r.id == 1]
    assert row.status == OutboxStatus.FAILED.value
    assert row.last_error == "550 5.1.1 mailbox unknown"
    with mailing.sessions() as session:
        entries = session.scalars(select(ChronologyEntry).order_by(ChronologyEntry.seq)).all()
    failed = entries[-1]
    assert (failed.event, failed.who) == ("email_failed", "system (dispatcher)")
    assert "could not be delivered" in failed.concern
    assert "550 5.1.1" in failed.action
    assert reference
    with mailing.sessions.begin() as session:
        assert retry(session, london("2026-12-07 11:00"), 1) == 1
    assert dispatch_once(mailing, ScriptedMailer(), london("2026-12-07 11:00")).sent == 1


def test_it_gives_up_after_the_retry_limit_but_not_before_three_attempts(
    mailing: Service,
) -> None:
    one_queued_message(mailing)  # queued at 10:00
    mailer = ScriptedMailer(*[Delivery.TEMPORARY] * 5)
    limit = timedelta(hours=1)
    # First dispatched long after it was queued: still three attempts before giving up.
    for minute in ("12:00", "12:01", "12:03"):
        result = dispatch_once(mailing, mailer, london(f"2026-12-07 {minute}"), retry_limit=limit)
    assert (result.retrying, result.failed) == (0, 1)
    assert len(mailer.attempts) == 3


def test_it_dismisses_a_failed_email_into_the_chronology_and_refuses_any_other(
    mailing: Service,
) -> None:
    one_queued_message(mailing)
    with (
        mailing.sessions.begin() as session,
        pytest.raises(InvalidInput, match="pending, not failed"),
    ):
        dismiss(mailing, session, london("2026-12-07 10:01"), 1, BUSINESS_MANAGER, "phoned")
    dispatch_once(mailing, ScriptedMailer(Delivery.PERMANENT), london("2026-12-07 10:05"))
    with mailing.sessions.begin() as session:
        dismiss(mailing, session, london("2026-12-07 11:30"), 1, BUSINESS_MANAGER, "phoned the DSL")
    [row] = [r for r in rows(mailing.sessions) if r.id == 1]
    assert row.status == OutboxStatus.DISMISSED.value
    with mailing.sessions() as session:
        last = session.scalars(select(ChronologyEntry).order_by(ChronologyEntry.seq.desc())).first()
    assert last is not None
    assert (last.event, last.who, last.action) == (
        "email_failure_dismissed",
        BUSINESS_MANAGER,
        "phoned the DSL",
    )
    assert last.occurred_at == london("2026-12-07 11:30")
    with mailing.sessions.begin() as session, pytest.raises(InvalidInput, match="dismissed, not"):
        dismiss(mailing, session, london("2026-12-07 11:31"), 1, BUSINESS_MANAGER, "again")
    assert dispatch_once(mailing, ScriptedMailer(), london("2026-12-07 12:00")).sent == 0
