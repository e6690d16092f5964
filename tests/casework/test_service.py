"""The use cases end to end on a real database (SQLite, and PostgreSQL in CI).

Dates are fixed and named; every expected instant is written by hand (Devon: Mon–Thu
09:00–17:00, Fri 09:00–16:00, Europe/London).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from escalation.casework import store, sweep
from escalation.casework.intake import Resolution
from escalation.casework.models import Challenge, ChronologyEntry, ChronologyIsAppendOnly, Deadline
from escalation.casework.service import Service
from escalation.casework.views import challenge_dict
from escalation.errors import EventNotAllowed, InvalidInput, NotFound
from tests.conftest import (
    BUSINESS_MANAGER,
    SCHOOL_DSL,
    SERVICE_MANAGER,
    SOCIAL_WORKER,
    TEAM_MANAGER,
    london,
    raise_request,
)

MONDAY_7_DEC_10AM = london("2026-12-07 10:00")
WEDNESDAY_23_DEC_3PM = london("2026-12-23 15:00")
RESOLUTION = Resolution(
    "decision_changed",
    "Assessment allocated",
    "Seen weekly by a social worker; attendance plan with school",
    True,
)


def view(service: Service, reference: str) -> dict[str, object]:
    with service.sessions() as session:
        challenge = store.load_challenge(session, reference, lock=False)
        return challenge_dict(
            challenge,
            service.protocol_of(challenge),
            store.pending_deadlines(session, challenge.id),
        )


def count(service: Service, model: type) -> int:
    with service.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def entries(service: Service, reference: str) -> list[ChronologyEntry]:
    with service.sessions() as session:
        challenge = store.load_challenge(session, reference, lock=False)
        return list(store.chronology(session, challenge.id))


def test_it_raises_at_level_1_with_a_reference_and_hand_computed_deadlines(
    service: Service,
) -> None:
    reference = service.raise_challenge(raise_request(), WEDNESDAY_23_DEC_3PM)
    assert reference == "DSCP-2026-00001"
    data = view(service, reference)
    assert data["state"] == "level_1.awaiting_response"
    assert data["protocol"] == {"id": "devon", "version": 1}
    # 5 working days after Wed 23 Dec 2026: 24, 29, 30, 31 Dec, (1 Jan holiday), Mon 4 Jan.
    assert data["due_at"] == "2027-01-04T17:00:00+00:00"
    stage = data["stages"][0]  # type: ignore[index]
    assert stage["acknowledge_due_at"] == "2026-12-24T17:00:00+00:00"
    pending = {(d["kind"], d["due_at"]) for d in data["pending_deadlines"]}  # type: ignore[union-attr]
    assert ("reminder", "2026-12-31T09:00:00+00:00") in pending
    assert ("response_due", "2027-01-04T17:00:00+00:00") in pending
    assert service.raise_challenge(raise_request(), WEDNESDAY_23_DEC_3PM) == "DSCP-2026-00002"


def test_it_runs_a_challenge_through_levels_to_closure(service: Service) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    service.acknowledge(ref, SOCIAL_WORKER, london("2026-12-07 14:00"))
    service.respond(
        ref, SOCIAL_WORKER, "upheld", "Threshold not met", [], london("2026-12-08 10:00")
    )
    service.escalate(ref, SCHOOL_DSL, "Further disclosures", london("2026-12-08 11:00"))
    assert view(service, ref)["state"] == "level_2.awaiting_response"
    # Level 2: 2 working days after Tue 8 Dec → Thu 10 Dec 17:00.
    assert view(service, ref)["due_at"] == "2026-12-10T17:00:00+00:00"
    service.respond(
        ref,
        TEAM_MANAGER,
        "changed",
        "Assessment allocated",
        ["Strategy discussion | Morgan Team Manager | 2026-12-11"],
        london("2026-12-09 12:00"),
    )
    service.accept(ref, SCHOOL_DSL, RESOLUTION, london("2026-12-09 15:00"))
    data = view(service, ref)
    assert data["state"] == "resolved"
    assert data["outcome"]["resolved_level"] == 2  # type: ignore[index]
    # Outcome check: opening of the 20th working day after Wed 9 Dec 2026. Counting: Dec 10, 11,
    # 14–18, 21–24 (11), 29–31 (14; 25 and 28 Dec are holidays), Jan 4–8 (19; 1 Jan is a
    # holiday), Mon 11 Jan (20).
    assert [(d["kind"], d["due_at"]) for d in data["pending_deadlines"]] == [  # type: ignore[union-attr]
        ("outcome_check", "2027-01-11T09:00:00+00:00")
    ]
    sweep.run_once(service, london("2027-01-11 09:05"))
    assert view(service, ref)["state"] == "outcome_check"
    service.answer_outcome(ref, SCHOOL_DSL, True, None, london("2027-01-11 11:00"))
    data = view(service, ref)
    assert data["state"] == "closed"
    assert data["pending_deadlines"] == []
    assert [e.event for e in entries(service, ref)] == [
        "raise",
        "acknowledge",
        "respond",
        "escalate",
        "respond",
        "accept",
        "request_outcome",
        "outcome",
    ]


def test_it_refuses_an_event_the_state_does_not_allow_naming_state_and_allowed(
    service: Service,
) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    with pytest.raises(EventNotAllowed) as caught:
        service.accept(ref, SCHOOL_DSL, RESOLUTION, london("2026-12-07 11:00"))
    message = str(caught.value)
    assert "'accept' is not allowed" in message
    assert "level_1.awaiting_response" in message
    assert "acknowledge, respond, escalate, pause, extend, withdraw, resolve" in message
    assert len(entries(service, ref)) == 1


def test_it_writes_nothing_when_a_raise_has_bad_input(service: Service) -> None:
    with pytest.raises(InvalidInput, match="category: 'gossip' is not one of threshold"):
        service.raise_challenge(raise_request(category="gossip"), MONDAY_7_DEC_10AM)
    with pytest.raises(InvalidInput, match="start-reason: is required"):
        service.raise_challenge(raise_request(start_level=3), MONDAY_7_DEC_10AM)
    with pytest.raises(InvalidInput, match="raiser-email: 'not-an-email' is not a valid"):
        service.raise_challenge(raise_request(raiser_email="not-an-email"), MONDAY_7_DEC_10AM)
    with pytest.raises(InvalidInput, match="raiser-name: must be one line"):
        service.raise_challenge(
            raise_request(raiser_name="Dana Lead\nReply-To: x@attacker.example"),
            MONDAY_7_DEC_10AM,
        )
    with pytest.raises(InvalidInput, match="need-decision: 7 is not a level of need"):
        service.raise_challenge(raise_request(need_decision=7), MONDAY_7_DEC_10AM)
    with pytest.raises(NotFound, match="no organisation named 'Nowhere School'"):
        service.raise_challenge(raise_request(raising_org="Nowhere School"), MONDAY_7_DEC_10AM)
    assert count(service, Challenge) == 0
    assert count(service, ChronologyEntry) == 0
    assert count(service, Deadline) == 0
    # A failed raise does not use up a reference number either.
    assert service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM) == "DSCP-2026-00001"


def test_it_starts_higher_with_a_reason_and_urgent_uses_working_hours(service: Service) -> None:
    ref = service.raise_challenge(
        raise_request(urgent=True, start_level=3, start_reason="Child missing from home twice"),
        london("2026-12-11 15:00"),
    )  # Friday: closes 16:00
    data = view(service, ref)
    assert data["state"] == "level_3.awaiting_response"
    # 4 working hours from Fri 15:00: one hour on Friday, three on Monday → Mon 14 Dec 12:00.
    assert data["due_at"] == "2026-12-14T12:00:00+00:00"


def test_it_pauses_and_resumes_with_the_remaining_business_time(service: Service) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)  # due Mon 14 Dec 17:00
    service.pause(
        ref, SOCIAL_WORKER, SCHOOL_DSL, "Awaiting strategy discussion", london("2026-12-11 15:00")
    )  # Fri 15:00: 1h Friday + 8h Monday remain
    data = view(service, ref)
    assert data["state"] == "level_1.paused"
    assert data["pending_deadlines"] == []
    service.resume(ref, SOCIAL_WORKER, london("2026-12-16 09:00"))  # Wed 09:00 + 9h
    # Wed 16 Dec 09:00–17:00 is 8h; the 9th hour is Thu 17 Dec 09:00–10:00.
    assert view(service, ref)["due_at"] == "2026-12-17T10:00:00+00:00"


def test_it_extends_to_an_agreed_working_day_and_refuses_a_holiday(service: Service) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    with pytest.raises(InvalidInput, match="until: 2026-12-25 is not a working day"):
        service.extend(
            ref,
            SOCIAL_WORKER,
            SCHOOL_DSL,
            london("2026-12-25 00:00").date(),
            "Christmas",
            london("2026-12-08 10:00"),
        )
    with pytest.raises(InvalidInput, match="agreed-by: must be someone other"):
        service.extend(
            ref,
            SOCIAL_WORKER,
            SOCIAL_WORKER,
            london("2026-12-18 00:00").date(),
            "More time",
            london("2026-12-08 10:00"),
        )
    service.extend(
        ref,
        SOCIAL_WORKER,
        SCHOOL_DSL,
        london("2026-12-18 00:00").date(),
        "Waiting for health records",
        london("2026-12-08 10:00"),
    )
    assert view(service, ref)["due_at"] == "2026-12-18T16:00:00+00:00"  # a Friday


def test_it_refuses_an_extension_more_than_a_year_away(service: Service) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    with pytest.raises(InvalidInput, match="until: 2027-12-10 is more than a year away"):
        service.extend(
            ref,
            SOCIAL_WORKER,
            SCHOOL_DSL,
            london("2027-12-10 00:00").date(),  # 367 days after Tue 8 Dec 2026 (the limit is 366)
            "Parked",
            london("2026-12-08 10:00"),
        )


def test_it_refuses_a_nul_character_with_the_field_named(service: Service) -> None:
    with pytest.raises(InvalidInput, match="concern: contains a NUL character"):
        service.raise_challenge(raise_request(concern="Falling\x00attendance"), MONDAY_7_DEC_10AM)
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Challenge)) == 0


def test_it_lapses_unanswered_levels_once_and_a_second_sweep_changes_nothing(
    service: Service,
) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)  # due Mon 14 Dec 17:00
    first = sweep.run_once(service, london("2026-12-14 17:05"))
    assert first.applied["response_due"] == 1
    data = view(service, ref)
    assert data["state"] == "level_2.awaiting_response"
    assert data["stages"][0]["escalated_at"] == "2026-12-14T17:05:00+00:00"  # type: ignore[index]
    before = len(entries(service, ref))
    second = sweep.run_once(service, london("2026-12-14 17:05"))
    assert second.claimed == 0
    assert len(entries(service, ref)) == before


def test_it_catches_up_after_a_missed_week_without_a_cascade(service: Service) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    # Nobody ran the sweep from Mon 7 Dec until Mon 21 Dec 09:30: the level-1 acknowledgement
    # reminder and the "1 working day before" reminder are past their moment.
    result = sweep.run_once(service, london("2026-12-21 09:30"))
    assert result.skipped == 2
    assert result.applied["response_due"] == 1
    data = view(service, ref)
    assert data["state"] == "level_2.awaiting_response"  # one lapse, not a cascade to level 4
    # Level 2's clock starts when the escalation was applied: 2 working days after Mon 21 Dec.
    assert data["due_at"] == "2026-12-23T17:00:00+00:00"
    assert [e.event for e in entries(service, ref)] == [
        "raise",
        "acknowledgement_due_skipped",
        "reminder_skipped",
        "lapse",
    ]


def test_it_keeps_level_4_overdue_with_at_most_three_overdue_reminders(service: Service) -> None:
    ref = service.raise_challenge(
        raise_request(start_level=4, start_reason="Two earlier challenges unanswered"),
        MONDAY_7_DEC_10AM,
    )  # 10 working days → Mon 21 Dec 17:00
    assert view(service, ref)["due_at"] == "2026-12-21T17:00:00+00:00"
    for day in (
        "2026-12-17",
        "2026-12-21",
        "2026-12-22",
        "2026-12-23",
        "2026-12-24",
        "2026-12-29",
        "2026-12-30",
        "2026-12-31",
        "2027-01-04",
        "2027-01-05",
        "2027-01-06",
        "2027-01-07",
    ):
        sweep.run_once(service, london(f"{day} 09:05"))
        sweep.run_once(service, london(f"{day} 17:05"))
    data = view(service, ref)
    assert data["state"] == "level_4.overdue"
    overdue = [e for e in entries(service, ref) if e.event == "overdue"]
    # Every 2 working days after Mon 21 Dec at opening: Wed 23 Dec, Tue 29 Dec, Thu 31 Dec.
    assert [e.occurred_at.isoformat() for e in overdue] == [
        "2026-12-23T09:05:00+00:00",
        "2026-12-29T09:05:00+00:00",
        "2026-12-31T09:05:00+00:00",
    ]
    service.respond(
        ref, BUSINESS_MANAGER, "partly_changed", "Panel view", [], london("2027-01-07 10:00")
    )
    assert view(service, ref)["state"] == "level_4.responded"


def test_overdue_reminders_count_from_when_a_late_sweep_applied_the_lapse(
    service: Service,
) -> None:
    """workflows/README.md, "When things fire": from the sweep moment of the lapse."""
    ref = service.raise_challenge(
        raise_request(start_level=4, start_reason="Two earlier challenges unanswered"),
        MONDAY_7_DEC_10AM,
    )  # due Mon 21 Dec 17:00; the worker was stopped until Wed 23 Dec 09:05
    for day in ("2026-12-23", "2026-12-24", "2026-12-29", "2026-12-30", "2026-12-31"):
        sweep.run_once(service, london(f"{day} 09:05"))
    for day in ("2027-01-04", "2027-01-05", "2027-01-06"):
        sweep.run_once(service, london(f"{day} 09:05"))
    lapse = [e for e in entries(service, ref) if e.event == "lapse"]
    assert [e.occurred_at.isoformat() for e in lapse] == ["2026-12-23T09:05:00+00:00"]
    # 2 working days after Wed 23 Dec: Thu 24 (1), Tue 29 (2); after the 29th: Thu 31; after
    # the 31st: Mon 4 (1), Tue 5 Jan (2). Each at opening, applied by the 09:05 sweep.
    overdue = [e for e in entries(service, ref) if e.event == "overdue"]
    assert [e.occurred_at.isoformat() for e in overdue] == [
        "2026-12-29T09:05:00+00:00",
        "2026-12-31T09:05:00+00:00",
        "2027-01-05T09:05:00+00:00",
    ]


def test_it_refuses_an_effective_time_before_the_last_chronology_entry(service: Service) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    with pytest.raises(InvalidInput, match=r"now: .* is before the last entry"):
        service.acknowledge(ref, SOCIAL_WORKER, london("2026-12-07 09:00"))
    assert len(entries(service, ref)) == 1


def test_it_keeps_the_chronology_append_only_in_the_orm_and_the_database(service: Service) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    with service.sessions() as session:
        entry = session.scalars(select(ChronologyEntry)).one()
        entry.action = "rewritten"
        with pytest.raises(ChronologyIsAppendOnly):
            session.flush()
    with pytest.raises(DBAPIError, match="append-only"), service.sessions.begin() as session:
        session.execute(update(ChronologyEntry).values(action="rewritten"))
    assert entries(service, ref)[0].action.startswith("Challenge raised")


def test_it_records_withdrawal_and_leaves_no_pending_deadline(service: Service) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    service.withdraw(ref, SCHOOL_DSL, "Family moved out of area", london("2026-12-08 10:00"))
    data = view(service, ref)
    assert data["state"] == "withdrawn"
    assert data["pending_deadlines"] == []
    with pytest.raises(EventNotAllowed, match="allowed now: none"):
        service.escalate(ref, SCHOOL_DSL, "Changed my mind", london("2026-12-08 11:00"))


def test_it_reopens_at_the_level_where_it_ended_when_life_has_not_improved(
    service: Service,
) -> None:
    ref = service.raise_challenge(raise_request(), MONDAY_7_DEC_10AM)
    service.escalate(ref, SCHOOL_DSL, "No contact from social worker", london("2026-12-07 11:00"))
    service.escalate(ref, SCHOOL_DSL, "Risk increasing", london("2026-12-07 12:00"), to_level=3)
    service.resolve(ref, SERVICE_MANAGER, RESOLUTION, london("2026-12-08 12:00"))
    service.answer_outcome(ref, SCHOOL_DSL, False, None, london("2026-12-09 12:00"))
    assert view(service, ref)["state"] == "outcome_not_improved"
    service.reopen(ref, SCHOOL_DSL, "Still missing school", london("2026-12-09 13:00"))
    data = view(service, ref)
    assert data["state"] == "level_3.awaiting_response"
    assert data["outcome"] is None
