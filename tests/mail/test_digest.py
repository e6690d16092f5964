"""The partnership digest: hand-computed figures, the working-day rule, exactly once per UK date
(twice, across a clock change, and from two workers at once), one partnership's digest never
listing another's challenges, a partnership with no contact reported, and no child detail.

Runs on SQLite and PostgreSQL. Devon's calendar: Mon–Thu 09:00–17:00, Fri 09:00–16:00,
Europe/London; every expected date below is worked out by hand in a comment.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import shutil
import threading
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import directory, sweep
from escalation.casework.intake import Resolution
from escalation.casework.models_service import OutboxMessage, OutboxStatus
from escalation.casework.service import Service
from escalation.errors import EscalationError, InvalidInput
from escalation.mail import digest, digest_figures, dispatch
from escalation.mail.digest import DigestResult, send_digests
from escalation.mail.digest_email import DigestContext, sample_digest
from escalation.mail.digest_figures import problem_words
from escalation.mail.emails import EmailRenderer, TemplateProblem, check_all
from escalation.mail.mailer import FileMailer
from escalation.mail.outbox import OutboxNotifier
from escalation.resources import templates_dir
from escalation.rules.registry import ProtocolRegistry
from tests.conftest import (
    BUSINESS_MANAGER,
    PRIVACY_MARKERS,
    SCHOOL,
    SCHOOL_DSL,
    SOCIAL_WORKER,
    london,
    raise_request,
)

BASE_URL = "https://escalation.example.org"
BUSINESS_UNIT = "business.unit@dscp.example.org"
MONDAY_30_NOV_0730 = london("2026-11-30 07:30")
SATURDAY_28_NOV_0730 = london("2026-11-28 07:30")
CHRISTMAS_DAY_0730 = london("2026-12-25 07:30")  # a Friday
TUESDAY_1_DEC_0730 = london("2026-12-01 07:30")
SPRING_FORWARD_SUNDAY_0730 = london("2026-03-29 07:30")  # BST from 01:00 GMT
FALL_BACK_SUNDAY_0130_BST = london("2026-10-25 01:30")  # 00:30 UTC
FALL_BACK_SUNDAY_0130_GMT = london("2026-10-25 01:30").replace(fold=1)  # 01:30 UTC
EARLY_HELP = "Devon Early Help"  # a responding team with no senior manager in the directory


@pytest.fixture
def mailing(service: Service, registry: ProtocolRegistry, tmp_path: Path) -> Service:
    """The persona service with the outbox notifier, an admin for Devon and an Early Help team
    that has only a practitioner (so level 3 there has a gap)."""
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "organisation,type,partnership,role,name,email\n"
        "Devon SCP Business Unit,partnership,devon,admin,Sam Administrator,admin@dscp.example.org\n"
        f"{EARLY_HELP},social_care,devon,practitioner,Eli Worker,eh.worker@devon.example.org\n",
        encoding="utf-8",
    )
    directory.import_csv(service.sessions, extra, registry.partnerships())
    service.notifier = OutboxNotifier(registry, EmailRenderer(), BASE_URL)
    return service


def request(**overrides: Any) -> Any:
    """The persona's challenge, about a decision made before any date used here."""
    return raise_request(**{"decision_date": "2026-10-30", **overrides})


def digests(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == "digest")
        return list(session.scalars(query.order_by(OutboxMessage.id)))


def only_digest(sessions: sessionmaker[Session], partnership: str = "devon") -> OutboxMessage:
    [row] = [r for r in digests(sessions) if r.idempotency_key.startswith(f"digest:{partnership}:")]
    return row


def section(text: str, heading: str) -> list[str]:
    """The non-blank lines of one section of the text digest, up to the next heading."""
    lines = text.split(f"\n{heading}\n", 1)[1].splitlines()
    out: list[str] = []
    for line in lines:
        if line.split(":")[0].isupper() and not line.startswith(("-", " ")):
            break
        if line.strip():
            out.append(line)
    return out


def assert_in_both(row: OutboxMessage, fragment: str) -> None:
    assert fragment in row.text_body, f"{fragment!r} not in the text:\n{row.text_body}"
    escaped = fragment.replace("&", "&amp;").replace("'", "&#39;")
    assert escaped in row.html_body, f"{escaped!r} not in the HTML"


# --- Hand-computed figures -------------------------------------------------------------------


def devon_week(service: Service) -> dict[str, str]:
    """Devon challenges at fixed dates, and one in Plymouth; returns their references by name."""
    refs: dict[str, str] = {}

    def at(name: str, when: str, **overrides: Any) -> None:
        refs[name] = service.raise_challenge(request(**overrides), london(when))

    # Level 4 from the start: 10 working days after Mon 2 Nov = Mon 16 Nov 17:00; it stays at 4.
    at("stuck", "2026-11-02 10:00", start_level=4, start_reason="Serious risk")
    # Level 1, 5 working days after Mon 23 Nov (24, 25, 26, 27, 30) = Mon 30 Nov 17:00.
    at("today", "2026-11-23 10:00")
    # Level 1, 5 working days after Wed 25 Nov (26, 27, 30, 1, 2) = Wed 2 Dec 17:00.
    at("wednesday", "2026-11-25 10:00")
    # Level 3 at Early Help (no senior manager: a gap): 30, 1, 2, 3, 4 Dec = Fri 4 Dec 16:00.
    at("friday", "2026-11-27 10:00", responding_org=EARLY_HELP, start_level=3, start_reason="Risk")
    # Level 4, 10 working days after Fri 27 Nov = Fri 11 Dec 16:00: beyond the 5-day window.
    at("later", "2026-11-27 11:00", start_level=4, start_reason="Serious risk")
    # Urgent, 4 working hours from Fri 27 Nov 14:00: 14:00–16:00, then Mon 30 Nov 09:00–11:00.
    at("urgent", "2026-11-27 14:00", urgent=True)
    # Three stages: raised Mon 16 Nov; escalated Wed 18 Nov to level 2 (due 2 working days
    # later, Fri 20 Nov 16:00); unanswered, so the sweep at Mon 30 Nov 07:30 lifts it to level 3,
    # due 5 working days after Mon 30 Nov = Mon 7 Dec 17:00, the last moment of the window. Only
    # the current stage counts: the two past due dates must not make it overdue.
    at("escalated", "2026-11-16 10:00")
    service.escalate(refs["escalated"], SCHOOL_DSL, "No reply", london("2026-11-18 10:00"))
    # Paused at level 1: open, but its clock is stopped, so never overdue.
    at("paused", "2026-11-17 10:00")
    service.pause(
        refs["paused"], SOCIAL_WORKER, SCHOOL_DSL, "Strategy discussion", london("2026-11-18 10:00")
    )
    # Finished: not open.
    at("withdrawn", "2026-11-18 10:00")
    service.withdraw(
        refs["withdrawn"], SCHOOL_DSL, "Resolved informally", london("2026-11-18 11:00")
    )
    at("resolved", "2026-11-19 10:00")
    service.resolve(
        refs["resolved"],
        SCHOOL_DSL,
        Resolution("decision_changed", "Assessment allocated", "Seen weekly", True),
        london("2026-11-19 12:00"),
    )
    at("plymouth", "2026-11-16 10:00", partnership="plymouth", responding_org="Plymouth Gateway")
    sweep.run_once(service, MONDAY_30_NOV_0730)  # "stuck" becomes level_4.overdue
    return refs


def test_it_counts_open_challenges_by_level_and_lists_overdue_and_due_soon(
    mailing: Service,
) -> None:
    refs = devon_week(mailing)
    result = send_digests(mailing, MONDAY_30_NOV_0730)
    [devon] = [d for d in result.partnerships if d.partnership == "devon"]
    # Open: level 1 today, wednesday, urgent, paused; level 3 friday, escalated; level 4 stuck,
    # later.
    assert devon.open_by_level == {1: 4, 2: 0, 3: 2, 4: 2}
    assert (devon.overdue, devon.due_soon) == (1, 5)
    row = only_digest(mailing.sessions)
    assert row.recipient_email == BUSINESS_UNIT
    assert row.recipient_name == BUSINESS_MANAGER
    assert row.challenge_id is None and row.status == OutboxStatus.PENDING.value
    text = row.text_body
    assert section(text, "OPEN CHALLENGES BY LEVEL: 8") == [
        "Level 1 (Practitioner to practitioner): 4",
        "Level 2 (Line managers and designated safeguarding leads): 0",
        "Level 3 (Senior managers): 2",
        "Level 4 (Safeguarding partnership): 2",
    ]
    # Working days after Mon 16 Nov up to Mon 30 Nov: 17–20, 23–27, 30 = 10.
    assert section(text, "OVERDUE NOW: 1")[1:] == [
        f"- {refs['stuck']}: level 4, Devon Front Door; was due by 16 November 2026 at "
        "5pm, overdue by 10 working days",
        f"  {BASE_URL}/challenges/{refs['stuck']}",
    ]
    due_soon = section(text, "DUE IN THE NEXT 5 WORKING DAYS: 5")
    # 5th working day after Mon 30 Nov: 1, 2, 3, 4, 7 Dec.
    assert due_soon[0] == "Responses due from now until 7 December 2026 at 5pm (UK time)."
    assert due_soon[1::2] == [
        f"- {refs['urgent']} (urgent): level 1, Devon Front Door; due by 30 November 2026 at 11am",
        f"- {refs['today']}: level 1, Devon Front Door; due by 30 November 2026 at 5pm",
        f"- {refs['wednesday']}: level 1, Devon Front Door; due by 2 December 2026 at 5pm",
        f"- {refs['friday']}: level 3, {EARLY_HELP}; due by 4 December 2026 at 4pm",
        f"- {refs['escalated']}: level 3, Devon Front Door; due by 7 December 2026 at 5pm",
    ]
    for name in ("later", "paused", "withdrawn", "resolved", "plymouth"):
        assert refs[name] not in text + row.html_body, name


def test_it_lists_emails_that_reached_nobody_since_the_previous_digest(mailing: Service) -> None:
    refs = devon_week(mailing)
    send_digests(mailing, MONDAY_30_NOV_0730)
    # No earlier digest: the period starts at the same time on the previous working day.
    first = only_digest(mailing.sessions)
    assert section(first.text_body, "EMAILS THAT REACHED NOBODY: 1 challenge") == [
        "Alerts since 27 November 2026 at 7:30am (UK time) that an email about a challenge "
        "could not be delivered.",
        f"- {refs['friday']}: no contact for role senior_manager at {EARLY_HELP}",
        f"  {BASE_URL}/challenges/{refs['friday']}",
    ]
    assert_in_both(first, "It covers the period from 27 November 2026 at 7:30am to 30 November")
    send_digests(mailing, TUESDAY_1_DEC_0730)
    [_, second] = digests(mailing.sessions)
    # The next period starts at the first digest, after the alert: nothing to list.
    assert "EMAILS THAT REACHED NOBODY: 0 challenges\n" in second.text_body
    assert "Alerts since 30 November 2026 at 7:30am (UK time)" in second.text_body


def test_it_lists_failed_emails_until_they_are_retried(mailing: Service) -> None:
    reference = mailing.raise_challenge(request(), london("2026-11-26 10:00"))
    with mailing.sessions.begin() as session:
        # As the dispatcher leaves a message refused for good (550) by the mail server.
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.recipient_email == "frontdoor.sw@devon.example.org")
            .values(status=OutboxStatus.FAILED.value, last_error="550 5.1.1 mailbox unknown")
        )
    send_digests(mailing, MONDAY_30_NOV_0730)
    assert section(only_digest(mailing.sessions).text_body, "FAILED EMAILS: 1")[1:] == [
        f"- {reference}: the raised email to the practitioner, queued 26 November 2026 at 10am"
    ]
    with mailing.sessions.begin() as session:
        assert dispatch.retry(session, TUESDAY_1_DEC_0730, None) == 1
    send_digests(mailing, TUESDAY_1_DEC_0730)
    assert "FAILED EMAILS: 0\n" in digests(mailing.sessions)[-1].text_body


def test_it_keeps_each_list_short_and_says_how_many_more(
    mailing: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digest_figures, "LIST_CAP", 2)
    refs = [mailing.raise_challenge(request(), london(f"2026-11-2{d} 10:00")) for d in (4, 5, 6)]
    result = send_digests(mailing, MONDAY_30_NOV_0730)
    assert result.partnerships[0].due_soon == 3
    lines = section(only_digest(mailing.sessions).text_body, "DUE IN THE NEXT 5 WORKING DAYS: 3")
    assert [line.split(":")[0] for line in lines if line.startswith("- ")] == [
        f"- {refs[0]}",
        f"- {refs[1]}",
    ]
    assert lines[-1] == f"…and 1 more: see {BASE_URL}/challenges"


# --- When, and how often ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "sent"),
    [
        (SATURDAY_28_NOV_0730, False),
        (CHRISTMAS_DAY_0730, False),
        (MONDAY_30_NOV_0730, True),
    ],
    ids=["saturday", "christmas-day", "monday"],
)
def test_it_sends_on_working_days_only_by_default(mailing: Service, now: Any, sent: bool) -> None:
    result = send_digests(mailing, now)
    assert result.skipped_not_working_day == ([] if sent else ["devon", "plymouth", "torbay"])
    assert result.queued == (1 if sent else 0)
    assert len(digests(mailing.sessions)) == result.queued


@pytest.mark.parametrize(
    ("now", "as_of"),
    [
        (SPRING_FORWARD_SUNDAY_0730, "29 March 2026 at 7:30am"),
        (london("2026-10-25 07:30"), "25 October 2026 at 7:30am"),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_it_sends_every_day_when_asked_and_says_the_time_in_uk_time(
    mailing: Service, now: Any, as_of: str
) -> None:
    result = send_digests(mailing, now, days="daily")
    assert (result.queued, result.skipped_not_working_day) == (1, [])
    assert_in_both(only_digest(mailing.sessions), f"as of {as_of} (UK time)")


def test_it_queues_the_same_rows_when_run_twice(mailing: Service) -> None:
    first = send_digests(mailing, MONDAY_30_NOV_0730)
    before = [(r.id, r.message_id, r.idempotency_key) for r in digests(mailing.sessions)]
    again = send_digests(mailing, london("2026-11-30 15:00"))
    assert (first.queued, again.queued) == (1, 0)
    assert again.already_queued == ["devon"]
    assert [(r.id, r.message_id, r.idempotency_key) for r in digests(mailing.sessions)] == before
    assert before[0][2] == f"digest:devon:2026-11-30:{BUSINESS_UNIT}"


def test_it_sends_once_on_the_autumn_clock_change_when_the_hour_repeats(mailing: Service) -> None:
    assert FALL_BACK_SUNDAY_0130_GMT.timestamp() - FALL_BACK_SUNDAY_0130_BST.timestamp() == 3600
    first = send_digests(mailing, FALL_BACK_SUNDAY_0130_BST, days="daily")
    second = send_digests(mailing, FALL_BACK_SUNDAY_0130_GMT, days="daily")
    assert (first.queued, second.queued) == (1, 0)
    assert only_digest(mailing.sessions).idempotency_key.startswith("digest:devon:2026-10-25:")


def run_together(calls: list[Callable[[], DigestResult]]) -> list[DigestResult]:
    results: list[DigestResult | BaseException] = [RuntimeError("did not run")] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # reported below, on the test's thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for index, thread in enumerate(threads):
        thread.join(timeout=60)
        if thread.is_alive():
            pytest.fail(f"digest run {index + 1} of {len(calls)} did not finish within 60 s")
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome
    return [r for r in results if isinstance(r, DigestResult)]


def test_it_queues_one_digest_per_contact_when_two_workers_run_at_once(mailing: Service) -> None:
    results = run_together([lambda: send_digests(mailing, MONDAY_30_NOV_0730)] * 2)
    assert sorted(r.queued for r in results) == [0, 1]
    assert len(digests(mailing.sessions)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_it_queues_once_when_two_workers_compute_the_same_digest_at_the_same_moment(
    mailing: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both workers are held inside their transactions until each has seen no digest queued for
    # today and computed its figures; then both insert. The unique idempotency key decides.
    barrier = threading.Barrier(2, timeout=30)
    real = digest.compute_figures

    def held(*args: Any, **kwargs: Any) -> Any:
        figures = real(*args, **kwargs)
        barrier.wait()
        return figures

    monkeypatch.setattr(digest, "compute_figures", held)
    results = run_together([lambda: send_digests(mailing, MONDAY_30_NOV_0730)] * 2)
    assert sorted(r.queued for r in results) == [0, 1]
    assert [r.recipient_email for r in digests(mailing.sessions)] == [BUSINESS_UNIT]


# --- Partnerships ----------------------------------------------------------------------------


def test_it_keeps_each_partnership_to_its_own_challenges(
    mailing: Service, registry: ProtocolRegistry, tmp_path: Path
) -> None:
    plymouth_unit = tmp_path / "plymouth.csv"
    plymouth_unit.write_text(
        "organisation,type,partnership,role,name,email\n"
        "Plymouth SCP Business Unit,partnership,plymouth,partnership,Lee Lead,"
        "lead@pscp.example.org\n",
        encoding="utf-8",
    )
    directory.import_csv(mailing.sessions, plymouth_unit, registry.partnerships())
    devon_ref = mailing.raise_challenge(request(), london("2026-11-26 10:00"))
    plymouth_refs = [
        mailing.raise_challenge(
            request(partnership="plymouth", responding_org="Plymouth Gateway"),
            london(f"2026-11-2{d} 10:00"),
        )
        for d in (6, 7)
    ]
    result = send_digests(mailing, MONDAY_30_NOV_0730)
    counts = {d.partnership: (d.queued, d.open_by_level.get(1)) for d in result.partnerships}
    assert counts == {"devon": (1, 1), "plymouth": (1, 2), "torbay": (0, None)}
    devon, plymouth = only_digest(mailing.sessions), only_digest(mailing.sessions, "plymouth")
    assert devon_ref in devon.text_body and devon_ref not in plymouth.text_body
    for ref in plymouth_refs:
        assert ref in plymouth.text_body
        assert ref not in devon.text_body + devon.html_body + devon.subject
    assert "PSCP" not in devon.text_body + devon.html_body
    assert plymouth.subject.startswith("Plymouth Safeguarding Children Partnership: ")


def test_it_reports_a_partnership_with_no_contact_and_still_sends_the_others(
    mailing: Service, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="escalation.mail.digest"):
        result = send_digests(mailing, MONDAY_30_NOV_0730)
    # The personas' directory has a Devon business unit only.
    assert result.no_contact == ["plymouth", "torbay"]
    assert result.queued == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "digest: plymouth has no partnership contact to send it to",
        "digest: torbay has no partnership contact to send it to",
    ]
    assert "no partnership contact: plymouth, torbay" in result.summary()


def test_it_sends_one_digest_to_each_partnership_contact(
    mailing: Service, registry: ProtocolRegistry, tmp_path: Path
) -> None:
    second = tmp_path / "second.csv"
    second.write_text(
        "organisation,type,partnership,role,name,email\n"
        "Devon SCP Business Unit,partnership,devon,partnership,Kit Chair,Chair@dscp.example.org\n",
        encoding="utf-8",
    )
    directory.import_csv(mailing.sessions, second, registry.partnerships())
    assert send_digests(mailing, MONDAY_30_NOV_0730).queued == 2
    rows = digests(mailing.sessions)
    assert {(r.recipient_name, r.idempotency_key) for r in rows} == {
        (BUSINESS_MANAGER, f"digest:devon:2026-11-30:{BUSINESS_UNIT}"),
        ("Kit Chair", "digest:devon:2026-11-30:chair@dscp.example.org"),
    }
    assert len({r.message_id for r in rows}) == 2
    assert all(r.message_id.endswith("@escalation.example.org>") for r in rows)


# --- What it says, and what it never says ----------------------------------------------------

MARKERS = {
    **PRIVACY_MARKERS,
    "responding_team": "MARKER-TEAM-1290",
    "start_reason": "MARKER-START-3381",
}


def test_it_keeps_every_child_detail_out_of_the_digest(mailing: Service, tmp_path: Path) -> None:
    def raise_marked(when: str, **overrides: Any) -> str:
        marked = request(**{**MARKERS, "start_level": 3, **overrides})
        return mailing.raise_challenge(marked, london(when))

    at_level_4 = raise_marked("2026-11-16 10:00", start_level=4)
    raise_marked("2026-11-26 10:00", responding_org=EARLY_HELP)  # a gap: undeliverable
    responded = raise_marked("2026-11-25 10:00", start_level=1)
    mailing.respond(
        responded, SOCIAL_WORKER, "upheld", "MARKER-SUMMARY-6021", ["MARKER-ACTION-7710"],
        london("2026-11-25 12:00"),
    )  # fmt: skip
    mailing.escalate(responded, SCHOOL_DSL, "MARKER-REASON-3321", london("2026-11-25 14:00"))
    paused = raise_marked("2026-11-25 11:00", start_level=1)
    mailing.pause(
        paused, SOCIAL_WORKER, SCHOOL_DSL, "MARKER-PAUSE-4432", london("2026-11-25 15:00")
    )
    with mailing.sessions.begin() as session:
        session.execute(update(OutboxMessage).values(status=OutboxStatus.FAILED.value))
    sweep.run_once(mailing, MONDAY_30_NOV_0730)
    result = send_digests(mailing, MONDAY_30_NOV_0730)
    devon = result.partnerships[0]
    assert (devon.overdue, devon.undeliverable) == (0, 1)
    assert devon.failed > 10 and sum(devon.open_by_level.values()) == 4
    row = only_digest(mailing.sessions)
    mailer = FileMailer(tmp_path / "sent", "Case Resolution Protocol <no-reply@example.org>")
    dispatch.dispatch_once(mailing, mailer, MONDAY_30_NOV_0730)
    assert at_level_4 in row.text_body
    texts = [row.subject, row.text_body, row.html_body, *sent_parts(tmp_path / "sent", row.id)]
    assert len(texts) == 6 and "challenges digest" in texts[3]
    for text in texts:
        for marker in [*MARKERS.values(), "MARKER-SUMMARY", "MARKER-ACTION", "MARKER-REASON"]:
            assert marker.split()[0] not in text
        assert "MARKER-PAUSE" not in text and "QZX" not in text and "MARKER" not in text


def sent_parts(folder: Path, outbox_id: int) -> list[str]:
    """The message as the file mailer sent it, decoded: every header, then each body part."""
    wire = (folder / f"{outbox_id:08d}.eml").read_bytes()
    message = email.message_from_bytes(wire, policy=email.policy.default)
    headers = "\n".join(f"{name}: {value}" for name, value in message.items())
    parts = [part for part in message.walk() if not part.is_multipart()]
    return [headers, *(part.get_content() for part in parts if isinstance(part, EmailMessage))]


def test_it_gives_the_digest_no_field_for_the_child_or_any_free_text() -> None:
    names = {field for field in DigestContext.__dataclass_fields__}
    for word in ("child", "concern", "birth", "dob", "address", "summary", "reason", "text"):
        assert not [name for name in names if word in name], word


def test_it_lets_only_a_role_and_the_challenges_own_organisation_out_of_an_alert() -> None:
    orgs = ["Devon Front Door", SCHOOL]
    body = "… at level 1, could not be delivered: {}.\n\nPlease fix"
    assert (
        problem_words(body.format("no contact for role senior_manager at Devon Front Door"), orgs)
        == "no contact for role senior_manager at Devon Front Door"
    )
    assert (
        problem_words(
            body.format("an email to Alex Social Worker (practitioner) was not delivered"), orgs
        )
        == "an email to the practitioner contact was not delivered"
    )
    for sneaky in ("no contact for role dsl at The child lives at 4 Elm Road", "Jo said hello"):
        assert problem_words(body.format(sneaky), orgs) == (
            "an email was not delivered (see the challenge's chronology)"
        )


def test_it_ends_with_the_immediate_risk_numbers_and_the_link(mailing: Service) -> None:
    send_digests(mailing, MONDAY_30_NOV_0730)
    row = only_digest(mailing.sessions)
    footer = row.text_body.split("-" * 60)[1]
    assert "If a child is at immediate risk of significant harm, do not wait" in footer
    for number in ("0345 155 1071", "0345 6000 388", "999"):
        assert number in footer
        assert f'href="tel:{number.replace(" ", "")}"' in row.html_body
    assert_in_both(row, f"{BASE_URL}/challenges")
    assert row.subject == (
        "Devon Safeguarding Children Partnership: challenges digest for 30 November 2026 "
        "– 0 overdue, 0 due soon"
    )
    assert "no admin contact" not in row.text_body  # the fixture added one


def test_it_reports_in_one_line_and_as_json(mailing: Service) -> None:
    result = send_digests(mailing, MONDAY_30_NOV_0730)
    data = json.loads(json.dumps(result.as_dict()))
    assert data["queued"] == 1 and data["no_contact"] == ["plymouth", "torbay"]
    assert data["partnerships"][0] == {
        "partnership": "devon",
        "local_date": "2026-11-30",
        "outcome": "queued",
        "recipients": 1,
        "queued": 1,
        "open_by_level": {"1": 0, "2": 0, "3": 0, "4": 0},
        "overdue": 0,
        "due_soon": 0,
        "undeliverable": 0,
        "failed": 0,
    }
    summary = result.summary()
    assert "\n" not in summary
    assert summary.startswith(
        "digest as of 2026-11-30T07:30:00+00:00 (working): 1 queued (devon 1)"
    )


def test_it_refuses_to_run_without_the_outbox_or_with_unknown_days(
    service: Service, mailing: Service
) -> None:
    with pytest.raises(InvalidInput, match="days: 'weekly' is not one of working, daily"):
        send_digests(mailing, MONDAY_30_NOV_0730, days="weekly")
    mailing.notifier = Service(mailing.sessions, mailing.registry).notifier
    with pytest.raises(EscalationError, match="outbox notifier"):
        send_digests(mailing, MONDAY_30_NOV_0730)
    assert digests(mailing.sessions) == []


# --- Templates -------------------------------------------------------------------------------


def test_it_checks_the_digest_with_every_other_template(
    registry: ProtocolRegistry, tmp_path: Path
) -> None:
    assert check_all(EmailRenderer(), registry.all()) == []
    copied = tmp_path / "templates"
    shutil.copytree(templates_dir(), copied)
    body = copied / "emails" / "digest" / "body.txt"
    body.write_text(body.read_text(encoding="utf-8") + "{{ child_name }}\n", encoding="utf-8")
    with pytest.raises(TemplateProblem) as caught:
        EmailRenderer(copied)
    assert caught.value.problems == [f"{body}: unknown variable 'child_name'"]


def test_it_finds_a_digest_that_drops_the_footer(
    registry: ProtocolRegistry, tmp_path: Path
) -> None:
    copied = tmp_path / "templates"
    shutil.copytree(templates_dir(), copied)
    body = copied / "emails" / "digest" / "body.txt"
    body.write_text(body.read_text(encoding="utf-8").split("-" * 60)[0], encoding="utf-8")
    problems = check_all(EmailRenderer(copied), [registry.get("devon")])
    assert "devon@1: digest (full): text lacks '0345 155 1071'" in problems
    assert all(": digest (" in problem for problem in problems)
    assert sample_digest(registry.get("devon")).overdue.more == 3
