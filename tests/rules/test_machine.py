"""The state machine alone: no database, no clock (escalation.rules.machine)."""

from __future__ import annotations

import pytest

from escalation.rules.machine import Subject, allowed_events, fire, machine_for, mermaid, states_of
from escalation.rules.model import Protocol
from escalation.rules.registry import ProtocolRegistry
from escalation.rules.states import EffectKind, Event, Status, split_state


@pytest.fixture
def devon(registry: ProtocolRegistry) -> Protocol:
    return registry.get("devon")


def test_it_builds_one_machine_per_protocol_version(devon: Protocol) -> None:
    assert machine_for(devon) is machine_for(devon)


def test_it_has_flat_states_for_every_level(devon: Protocol) -> None:
    states = states_of(devon)
    assert "level_1.awaiting_response" in states
    assert "level_4.overdue" in states  # level 4 stays overdue (on_lapse: stay)
    assert "level_1.overdue" not in states  # levels 1-3 escalate instead
    assert {
        "new",
        "resolved",
        "outcome_check",
        "outcome_not_improved",
        "closed",
        "withdrawn",
    } <= set(states)


def test_it_raises_at_the_requested_level_and_records_the_effects(devon: Protocol) -> None:
    subject = Subject(state="new")
    assert fire(devon, subject, Event.RAISE, target_level=3)
    assert subject.state == "level_3.awaiting_response"
    assert [(e.kind, e.level) for e in subject.effects] == [(EffectKind.OPEN_STAGE, 3)]


def test_it_lapses_per_the_protocol(devon: Protocol) -> None:
    subject = Subject(state="level_3.awaiting_response")
    assert fire(devon, subject, Event.LAPSE)
    assert subject.state == "level_4.awaiting_response"
    last = Subject(state="level_4.awaiting_response")
    assert fire(devon, last, Event.LAPSE)
    assert last.state == "level_4.overdue"
    assert [e.kind for e in last.effects] == [EffectKind.MARK_OVERDUE]


def test_it_escalates_only_upwards(devon: Protocol) -> None:
    subject = Subject(state="level_2.responded")
    assert not fire(devon, subject, Event.ESCALATE, target_level=1)
    assert subject.state == "level_2.responded"
    assert fire(devon, subject, Event.ESCALATE, target_level=4)
    assert subject.state == "level_4.awaiting_response"


def test_it_reopens_at_the_level_where_it_was_resolved(devon: Protocol) -> None:
    subject = Subject(state="outcome_not_improved", resolved_level=2)
    assert fire(devon, subject, Event.REOPEN)
    assert subject.state == "level_2.awaiting_response"


def test_it_answers_the_outcome_check_yes_to_closed_and_no_to_not_improved(devon: Protocol) -> None:
    yes, no = Subject(state="outcome_check"), Subject(state="outcome_check")
    assert fire(devon, yes, Event.OUTCOME, improved=True)
    assert fire(devon, no, Event.OUTCOME, improved=False)
    assert (yes.state, no.state) == ("closed", "outcome_not_improved")


@pytest.mark.parametrize(
    ("state", "allowed"),
    [
        ("new", ["raise"]),
        (
            "level_1.awaiting_response",
            ["acknowledge", "respond", "escalate", "pause", "extend", "withdraw", "resolve"],
        ),
        ("level_1.responded", ["accept", "escalate", "withdraw", "resolve"]),
        ("level_1.paused", ["acknowledge", "escalate", "resume", "withdraw", "resolve"]),
        ("level_4.responded", ["accept", "withdraw", "resolve"]),
        ("level_4.overdue", ["acknowledge", "respond", "extend", "withdraw", "resolve"]),
        ("resolved", ["outcome"]),
        ("outcome_check", ["outcome", "close"]),
        ("outcome_not_improved", ["escalate", "reopen", "close"]),
        ("closed", []),
        ("withdrawn", []),
    ],
)
def test_it_allows_exactly_the_protocol_events(
    devon: Protocol, state: str, allowed: list[str]
) -> None:
    assert allowed_events(devon, state) == allowed


def test_it_keeps_lapse_and_request_outcome_for_the_sweep(devon: Protocol) -> None:
    assert "lapse" not in allowed_events(devon, "level_1.awaiting_response")
    assert "lapse" in allowed_events(devon, "level_1.awaiting_response", include_sweep=True)
    assert "request_outcome" in allowed_events(devon, "resolved", include_sweep=True)


def test_it_denies_by_default_an_event_with_no_transition(devon: Protocol) -> None:
    subject = Subject(state="closed")
    with pytest.raises(Exception, match="Can't trigger event"):
        fire(devon, subject, Event.RESPOND)
    assert subject.state == "closed"


def test_it_splits_state_names() -> None:
    assert split_state("level_3.paused") == (3, Status.PAUSED)
    assert split_state("closed") == (None, Status.CLOSED)


def test_it_draws_a_mermaid_diagram_from_the_machine(devon: Protocol) -> None:
    text = mermaid(devon)
    assert text.lstrip().startswith("---") or "stateDiagram" in text
    assert "stateDiagram" in text
    for state in ("level_1", "awaiting_response", "outcome_check", "withdrawn"):
        assert state in text
    for event in ("lapse", "escalate", "reopen"):
        assert event in text
