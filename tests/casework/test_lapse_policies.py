"""Lapse policies (issue 13, point 2): `prompt, then escalate after N working days` and
`prompt, then alert the partnership after N working days`, run end to end through the service
and the sweep on SQLite and PostgreSQL, with the emails they queue.

The protocol is Devon's as shipped with two levels changed, in this test's own workflows folder:
level 1 `prompt, then escalate after 3 working days`, level 2 `prompt, then alert the partnership
after 2 working days`. Devon: Mon-Thu 09:00-17:00, Fri 09:00-16:00; level 1 responds in 5
working days, level 2 in 2; the raiser is reminded 5 working days after a prompt.

Raised Monday 7 December 2026 10:00; level 1 due Monday 14 December 17:00 (8, 9, 10, 11, 14).
- 14 Dec 17:05, the sweep: level 1 lapses; the raiser and the raiser's managers (level 2's
  raising roles, dsl and line_manager) are asked to escalate. The window of 3 working days after
  the 14th (15, 16, 17) closes Thursday 17 December at 17:00: the follow-up at Friday 18 December
  09:00. The raiser reminder would go at the opening after 5 working days (15-18, 21): Tuesday 22.
- 18 Dec 09:05: not escalated, so the challenge rises to level 2; its 2 working days after the
  18th (21, 22) end Tuesday 22 December at 17:00. The raiser reminder is cancelled.
- 22 Dec 17:05: level 2 lapses, the raiser is prompted again; 2 working days after the 22nd (23,
  24) close on Christmas Eve; with Christmas and the Boxing Day substitute the next opening is
  Tuesday 29 December 09:00.
- 29 Dec 09:05: still nobody has escalated: the partnership business unit and the raiser are
  emailed, the chronology says so, the challenge waits at level 2 and the digest lists it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from escalation.casework import directory, sweep
from escalation.casework.models import Challenge, ChronologyEntry, Deadline
from escalation.casework.models_service import OutboxMessage
from escalation.casework.service import Service
from escalation.mail.digest_figures import compute_figures
from escalation.mail.emails import EmailRenderer
from escalation.mail.outbox import OutboxNotifier
from escalation.resources import workflows_dir
from escalation.rules.model import FollowUp, LapseFollowUp, OnLapse
from escalation.rules.registry import ProtocolRegistry, load_registry
from escalation.rules.workdays import Duration
from tests.conftest import FIXTURES, london, raise_request

BASE_URL = "https://escalation.example.org"
BUSINESS_UNIT = "business.unit@dscp.example.org"


@pytest.fixture
def policies(tmp_path: Path) -> ProtocolRegistry:
    folder = tmp_path / "workflows"
    shutil.copytree(workflows_dir(), folder)
    devon = folder / "devon.yaml"
    text = devon.read_text(encoding="utf-8")
    assert text.count("    on_lapse: escalate\n") == 3
    text = text.replace(
        "    on_lapse: escalate\n", "    on_lapse: prompt, then escalate after 3 working days\n", 1
    )
    text = text.replace(
        "    on_lapse: escalate\n",
        "    on_lapse: prompt, then alert the partnership after 2 working days\n",
        1,
    )
    devon.write_text(text, encoding="utf-8")
    return load_registry(folder)


@pytest.fixture
def mailing(sessions: sessionmaker[Session], policies: ProtocolRegistry) -> Service:
    directory.import_csv(sessions, FIXTURES / "directory.csv", policies.partnerships())
    return Service(sessions, policies, OutboxNotifier(policies, EmailRenderer(), BASE_URL))


def test_it_reads_both_follow_ups(policies: ProtocolRegistry) -> None:
    devon = policies.get("devon", 1)
    assert devon.level(1).on_lapse is OnLapse.PROMPT
    assert devon.level(1).lapse_follow_up == LapseFollowUp(
        FollowUp.ESCALATE, Duration.parse("3 working days")
    )
    assert devon.level(2).lapse_follow_up == LapseFollowUp(
        FollowUp.ALERT, Duration.parse("2 working days")
    )
    assert devon.level(3).lapse_follow_up is None and devon.level(3).on_lapse is OnLapse.ESCALATE


def _state(service: Service, reference: str) -> str:
    with service.sessions() as session:
        found = session.scalars(select(Challenge).where(Challenge.reference == reference)).one()
        return found.state


def _events(service: Service) -> list[str]:
    with service.sessions() as session:
        return list(session.scalars(select(ChronologyEntry.event).order_by(ChronologyEntry.seq)))


def _pending(service: Service) -> list[tuple[str, str]]:
    with service.sessions() as session:
        rows = session.execute(
            select(Deadline.kind, Deadline.due_at)
            .where(Deadline.status == "pending")
            .order_by(Deadline.due_at, Deadline.kind)
        )
        return [(kind, due.isoformat()) for kind, due in rows]


def _bodies(service: Service, kind: str, email: str) -> list[str]:
    with service.sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage.text_body)
                .where(OutboxMessage.kind == kind, OutboxMessage.recipient_email == email)
                .order_by(OutboxMessage.id)
            )
        )


def _mail(service: Service, kind: str) -> list[str]:
    with service.sessions() as session:
        return sorted(
            session.scalars(select(OutboxMessage.recipient_email).where(OutboxMessage.kind == kind))
        )


def test_a_prompt_escalates_then_alerts_the_partnership_when_nobody_acts(
    mailing: Service, policies: ProtocolRegistry
) -> None:
    reference = mailing.raise_challenge(raise_request(), london("2026-12-07 10:00"))

    sweep.run_once(mailing, london("2026-12-14 17:05"))
    assert _state(mailing, reference) == "level_1.lapse_prompt"
    # The raiser (the named DSL, and level 1's practitioner) and the raiser's managers as the
    # protocol names them (level 2 raises as dsl and line_manager): Dana Lead holds both.
    assert _mail(mailing, "lapse_prompt") == [
        "dsl@ashcombe.example.org",
        "sam.teacher@ashcombe.example.org",
    ]
    # No raiser reminder: it would fall after the protocol has decided (Tue 22 after Fri 18).
    assert _pending(mailing) == [("lapse_follow_up", "2026-12-18T09:00:00+00:00")]
    [prompt] = _bodies(mailing, "lapse_prompt", "dsl@ashcombe.example.org")
    assert (
        "if nobody has decided by 18 December 2026 at 9am, the challenge rises to the next "
        "level on its own" in " ".join(prompt.split())
    )

    sweep.run_once(mailing, london("2026-12-17 17:05"))  # the window is still open
    assert _state(mailing, reference) == "level_1.lapse_prompt"
    sweep.run_once(mailing, london("2026-12-18 09:05"))
    assert _state(mailing, reference) == "level_2.awaiting_response"
    assert ("lapse_follow_up", "2026-12-18T09:00:00+00:00") not in _pending(mailing)
    assert ("response_due", "2026-12-22T17:00:00+00:00") in _pending(mailing)
    assert all(kind != "raiser_reminder" for kind, _ in _pending(mailing))

    sweep.run_once(mailing, london("2026-12-22 17:05"))
    assert _state(mailing, reference) == "level_2.lapse_prompt"
    second = _bodies(mailing, "lapse_prompt", "dsl@ashcombe.example.org")[-1]
    assert (
        "if nobody has decided by 29 December 2026 at 9am, the partnership is told that "
        "the challenge has stalled" in " ".join(second.split())
    )
    assert ("lapse_follow_up", "2026-12-29T09:00:00+00:00") in _pending(mailing)
    sweep.run_once(mailing, london("2026-12-24 17:05"))
    assert _mail(mailing, "lapse_alert") == []

    sweep.run_once(mailing, london("2026-12-29 09:05"))
    assert _state(mailing, reference) == "level_2.lapse_prompt"  # it waits on the raiser still
    assert BUSINESS_UNIT in _mail(mailing, "lapse_alert")
    assert "dsl@ashcombe.example.org" in _mail(mailing, "lapse_alert")
    events = _events(mailing)
    assert events.count("lapse") == 3  # level 1 prompted, level 1 risen, level 2 prompted
    assert events[-1] == "lapse_alert"
    with mailing.sessions() as session:
        figures = compute_figures(
            session, policies.get("devon", 1), BASE_URL, london("2026-12-29 09:10")
        )
    assert [line.reference for line in figures.overdue.items] == [reference]


def test_a_raiser_who_escalates_in_time_stops_the_follow_up(mailing: Service) -> None:
    reference = mailing.raise_challenge(raise_request(), london("2026-12-07 10:00"))
    sweep.run_once(mailing, london("2026-12-14 17:05"))
    mailing.escalate(
        reference, "Dana Lead", "No reply from the Front Door", london("2026-12-15 10:00")
    )
    assert _state(mailing, reference) == "level_2.awaiting_response"
    assert all(kind != "lapse_follow_up" for kind, _ in _pending(mailing))
    # Level 2 opened at the escalation, 10:00 on the 15th: due Thursday 17 December 17:00 (16,
    # 17). By 18 December 09:05 it has lapsed in its turn, and only that: level 1's follow-up,
    # which was due at 09:00, had been cancelled.
    sweep.run_once(mailing, london("2026-12-18 09:05"))
    assert _state(mailing, reference) == "level_2.lapse_prompt"
    assert [e for e in _events(mailing) if e in ("lapse", "escalate", "lapse_alert")] == [
        "lapse",
        "escalate",
        "lapse",
    ]
    # Level 2's follow-up: prompted at 09:05 on the 18th, the window of 2 working days (21, 22)
    # closes on Tuesday 22 December at 17:00; the alert goes at Wednesday 23 December 09:00.
    assert ("lapse_follow_up", "2026-12-23T09:00:00+00:00") in _pending(mailing)


def test_a_follow_up_the_running_protocol_does_not_have_fails_alone(
    mailing: Service, sessions: sessionmaker[Session], registry: ProtocolRegistry
) -> None:
    """A process reading devon.yaml as shipped (no follow-up) meets a follow-up planned under
    the policy: that deadline fails, for a person, and the sweep goes on with the rest."""
    reference = mailing.raise_challenge(raise_request(), london("2026-12-07 10:00"))
    other = mailing.raise_challenge(raise_request(child_ref="OTHER"), london("2026-12-10 10:00"))
    sweep.run_once(mailing, london("2026-12-14 17:05"))
    shipped = Service(sessions, registry, OutboxNotifier(registry, EmailRenderer(), BASE_URL))
    result = sweep.run_once(shipped, london("2026-12-18 09:05"))
    assert result.failed == 1
    with mailing.sessions() as session:
        failed = session.scalars(select(Deadline.kind).where(Deadline.status == "failed")).all()
    assert failed == ["lapse_follow_up"]
    assert _state(mailing, reference) == "level_1.lapse_prompt"  # left for a person
    # The other challenge's level 1 was due Thursday 17 December 17:00 (11, 14-17): the sweep
    # went on and applied it, escalating as this process reads the protocol.
    assert _state(mailing, other) == "level_2.awaiting_response"
