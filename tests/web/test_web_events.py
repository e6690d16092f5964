"""The event forms on a challenge: each records its event through the service, refuses what the
reader may not do (403), and shows the page again with GOV.UK errors, writing nothing, when an
answer is missing or the state does not allow the event now.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from escalation.casework import store
from escalation.casework.intake import Resolution
from escalation.casework.models import Challenge, ChronologyEntry
from escalation.web.context import Web
from tests.conftest import london, raise_request
from tests.web_support import (
    DEVON_PARTNERSHIP_EMAIL,
    HEAD_EMAIL,
    SCHOOL_DSL_EMAIL,
    SERVICE_MANAGER_EMAIL,
    SOCIAL_WORKER_EMAIL,
    browser,
    csrf,
    sign_in_as,
    web_app,
)

if TYPE_CHECKING:
    from fastapi.testclient import TestClient  # imported at run time by web_support, quietly

NOW = london("2026-12-07 10:00")  # a Monday; level 1 raised an hour before is due 14 December
SOCIAL_WORKER = "Alex Social Worker (Devon Front Door)"
DSL = "Dana Lead (Ashcombe Primary School)"
RESOLUTION = {
    "life-improvement": "A social worker visits weekly; the child feels safe at home",
    "outcome": "decision_changed",
    "statement": "An assessment is opened",
    "recorded-on-both-files": "yes",
}


@pytest.fixture
def web_and_app(engine: Engine) -> tuple[Web, FastAPI]:
    return web_app(engine, clock=lambda: NOW)


@pytest.fixture
def web(web_and_app: tuple[Web, FastAPI]) -> Web:
    return web_and_app[0]


@pytest.fixture
def reference(web: Web) -> str:
    return web.service.raise_challenge(raise_request(), NOW - timedelta(hours=1))


def as_user(web_and_app: tuple[Web, FastAPI], email: str) -> TestClient:
    web, app = web_and_app
    client = browser(app)
    sign_in_as(web, client, email)
    return client


def post(client: TestClient, path: str, fields: dict[str, str] | None = None) -> Any:
    data = {"csrf_token": csrf(client, "/challenges"), **(fields or {})}
    return client.post(path, data=data)


def loaded(web: Web, reference: str) -> tuple[Challenge, Sequence[ChronologyEntry]]:
    with web.sessions() as session:
        challenge = store.load_challenge(session, reference, lock=False)
        return challenge, store.chronology(session, challenge.id)


def recorded(response: Any, reference: str, event: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/challenges/{reference}?done={event}"


def error_summary(page: str) -> str:
    summary = page.split('class="govuk-error-summary"')[1].split("</ul>")[0]
    return re.sub(r"\s+", " ", summary)


def respond(web: Web, reference: str) -> None:
    web.service.respond(reference, "Alex Social Worker", "upheld", "Below threshold", [], NOW)


def resolve(web: Web, reference: str) -> None:
    resolution = Resolution("decision_changed", "Assessment opened", "Seen weekly")
    web.service.resolve(reference, "Jo Service Manager", resolution, NOW)


# -- each event ------------------------------------------------------------------------------


def test_it_records_an_acknowledgement(web_and_app: tuple[Web, FastAPI], reference: str) -> None:
    client = as_user(web_and_app, SOCIAL_WORKER_EMAIL)
    form = client.get(f"/challenges/{reference}/acknowledge")
    assert form.status_code == 200 and "Acknowledge receipt" in form.text
    recorded(post(client, f"/challenges/{reference}/acknowledge"), reference, "acknowledge")
    challenge, entries = loaded(web_and_app[0], reference)
    assert challenge.stages[-1].acknowledged_by == SOCIAL_WORKER
    assert (entries[-1].event, entries[-1].who) == ("acknowledge", SOCIAL_WORKER)


def test_it_records_a_response_with_its_actions(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, SOCIAL_WORKER_EMAIL)
    fields = {
        "kind": "partly_changed",
        "summary": "Early help offered; threshold for assessment not met",
        "actions": "Early help assessment | Morgan Team Manager | 2026-12-14\n\nCall the school\n",
    }
    recorded(post(client, f"/challenges/{reference}/respond", fields), reference, "respond")
    challenge, entries = loaded(web_and_app[0], reference)
    assert challenge.state == "level_1.responded"
    stage = challenge.stages[-1]
    assert stage.response_kind == "partly_changed"
    assert [a["what"] for a in stage.actions] == ["Early help assessment", "Call the school"]
    assert stage.actions[0]["by"] == "2026-12-14"
    assert entries[-1].concern == fields["summary"]


def test_it_names_a_malformed_action_line(web_and_app: tuple[Web, FastAPI], reference: str) -> None:
    client = as_user(web_and_app, SOCIAL_WORKER_EMAIL)
    fields = {"kind": "upheld", "summary": "Not met", "actions": "Visit | Alex | next week"}
    response = post(client, f"/challenges/{reference}/respond", fields)
    assert response.status_code == 400
    assert 'href="#actions"' in error_summary(response.text)
    summary = error_summary(response.text)  # the free text is not repeated in the message
    assert "action[1]: the part after the second | is not a date like 2026-12-01" in summary
    assert "next week" not in summary
    assert "Visit | Alex | next week" in response.text  # the answers stay as typed
    assert loaded(web_and_app[0], reference)[0].state == "level_1.awaiting_response"


def test_it_records_an_acceptance_with_its_resolution(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    respond(web_and_app[0], reference)
    client = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    recorded(post(client, f"/challenges/{reference}/accept", RESOLUTION), reference, "accept")
    challenge, entries = loaded(web_and_app[0], reference)
    assert challenge.state == "resolved"
    assert challenge.life_improvement == RESOLUTION["life-improvement"]
    assert challenge.recorded_on_both_files is True
    assert (entries[-1].event, entries[-1].who) == ("accept", DSL)


def test_it_records_an_escalation_to_a_chosen_level(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    form = client.get(f"/challenges/{reference}/escalate")
    assert "Level 2: Line managers and designated safeguarding leads (the next level)" in form.text
    fields = {"reason": "The child disclosed again today", "to-level": "3"}
    recorded(post(client, f"/challenges/{reference}/escalate", fields), reference, "escalate")
    challenge, entries = loaded(web_and_app[0], reference)
    assert challenge.state == "level_3.awaiting_response"
    assert entries[-1].concern == fields["reason"]


def test_it_escalates_to_the_next_level_by_default(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    post(client, f"/challenges/{reference}/escalate", {"reason": "No progress"})
    assert loaded(web_and_app[0], reference)[0].state == "level_2.awaiting_response"


def test_it_records_a_pause_and_its_end(web_and_app: tuple[Web, FastAPI], reference: str) -> None:
    client = as_user(web_and_app, SOCIAL_WORKER_EMAIL)
    fields = {"reason": "Awaiting a strategy discussion", "agreed-by": "Dana Lead, Ashcombe"}
    recorded(post(client, f"/challenges/{reference}/pause", fields), reference, "pause")
    assert loaded(web_and_app[0], reference)[0].state == "level_1.paused"
    school = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    resumed = post(school, f"/challenges/{reference}/resume", {"note": "Strategy meeting held"})
    recorded(resumed, reference, "resume")
    challenge, entries = loaded(web_and_app[0], reference)
    assert challenge.state == "level_1.awaiting_response"
    assert (entries[-1].event, entries[-1].concern) == ("resume", "Strategy meeting held")


def test_it_records_an_extension_to_an_agreed_date(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, SOCIAL_WORKER_EMAIL)
    fields = {
        "until-day": "18",
        "until-month": "12",
        "until-year": "2026",
        "reason": "Waiting for the health visitor's report",
        "agreed-by": "Dana Lead",
    }
    recorded(post(client, f"/challenges/{reference}/extend", fields), reference, "extend")
    due = loaded(web_and_app[0], reference)[0].stages[-1].due_at
    assert due == london("2026-12-18 16:00")  # close of business on a Friday


@pytest.mark.parametrize(
    ("day", "month", "expected"),
    [
        ("25", "12", "not a working day"),
        ("9", "12", "not after the current due date"),
        ("4", "12", "has already closed"),
    ],
)
def test_it_refuses_an_extension_the_calendar_does_not_allow(
    web_and_app: tuple[Web, FastAPI], reference: str, day: str, month: str, expected: str
) -> None:
    client = as_user(web_and_app, SOCIAL_WORKER_EMAIL)
    fields = {"until-day": day, "until-month": month, "until-year": "2026"}
    fields |= {"reason": "More time", "agreed-by": "Dana Lead"}
    response = post(client, f"/challenges/{reference}/extend", fields)
    assert response.status_code == 400
    summary = error_summary(response.text)
    assert expected in summary and 'href="#until-day"' in summary
    assert len(loaded(web_and_app[0], reference)[1]) == 1  # only the raise


def test_it_asks_for_a_real_date(web_and_app: tuple[Web, FastAPI], reference: str) -> None:
    client = as_user(web_and_app, SOCIAL_WORKER_EMAIL)
    fields = {"until-day": "31", "until-month": "2", "until-year": "2027", "reason": "Time"}
    response = post(client, f"/challenges/{reference}/extend", fields)
    summary = error_summary(response.text)
    assert "must be a real date" in summary
    assert "Enter the name of the person who agreed" in summary  # every problem at once
    assert summary.index("real date") < summary.index("person who agreed")  # in page order


def test_it_records_a_withdrawal(web_and_app: tuple[Web, FastAPI], reference: str) -> None:
    client = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    fields = {"reason": "Agreed in a phone call"}
    recorded(post(client, f"/challenges/{reference}/withdraw", fields), reference, "withdraw")
    challenge, _ = loaded(web_and_app[0], reference)
    assert challenge.state == "withdrawn"
    assert challenge.withdrawn_reason == "Agreed in a phone call"


def test_it_records_a_senior_managers_resolution(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, SERVICE_MANAGER_EMAIL)
    form = client.get(f"/challenges/{reference}/resolve")
    # The child-impact question comes first, as a heading-sized label.
    assert form.text.index("How will life improve for the child?") < form.text.index("outcome")
    recorded(post(client, f"/challenges/{reference}/resolve", RESOLUTION), reference, "resolve")
    challenge, entries = loaded(web_and_app[0], reference)
    assert challenge.state == "resolved"
    assert challenge.resolved_by == "Jo Service Manager (Devon Front Door)"
    assert challenge.outcome == "decision_changed"
    assert entries[-1].event == "resolve"


def test_it_refuses_a_resolution_without_the_child_impact_answer(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, HEAD_EMAIL)
    fields = dict(RESOLUTION, **{"life-improvement": "   "})
    response = post(client, f"/challenges/{reference}/resolve", fields)
    assert response.status_code == 400
    assert "<title>Error: " in response.text
    summary = error_summary(response.text)
    assert "There is a problem" in response.text
    assert '<a href="#life-improvement">Enter how life will improve for the child</a>' in summary
    assert 'id="life-improvement-error"' in response.text  # the field's own message
    assert "An assessment is opened" in response.text  # the other answers are kept
    challenge, entries = loaded(web_and_app[0], reference)
    assert challenge.state == "level_1.awaiting_response" and challenge.resolved_at is None
    assert [e.event for e in entries] == ["raise"]


def test_it_closes_a_challenge_whose_outcome_improved(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    resolve(web_and_app[0], reference)
    client = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    fields = {"improved": "yes", "note": "Attending every day"}
    recorded(post(client, f"/challenges/{reference}/outcome", fields), reference, "outcome")
    challenge, _ = loaded(web_and_app[0], reference)
    assert challenge.state == "closed" and challenge.outcome_improved is True


def test_it_reopens_a_challenge_whose_outcome_did_not_improve(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    resolve(web_and_app[0], reference)
    client = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    post(client, f"/challenges/{reference}/outcome", {"improved": "no"})
    assert loaded(web_and_app[0], reference)[0].state == "outcome_not_improved"
    fields = {"reason": "No visit has happened"}
    recorded(post(client, f"/challenges/{reference}/reopen", fields), reference, "reopen")
    assert loaded(web_and_app[0], reference)[0].state == "level_1.awaiting_response"


def test_it_lets_the_partnership_close_a_challenge(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    web = web_and_app[0]
    resolve(web, reference)
    web.service.answer_outcome(reference, "Dana Lead", False, None, NOW)
    client = as_user(web_and_app, DEVON_PARTNERSHIP_EMAIL)
    fields = {"reason": "The school chose not to reopen"}
    recorded(post(client, f"/challenges/{reference}/close", fields), reference, "close")
    challenge, entries = loaded(web, reference)
    assert challenge.state == "closed"
    assert entries[-1].concern == "The school chose not to reopen"


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "event"),
    [
        (SCHOOL_DSL_EMAIL, "acknowledge"),
        (SCHOOL_DSL_EMAIL, "respond"),
        (SOCIAL_WORKER_EMAIL, "withdraw"),
        (SOCIAL_WORKER_EMAIL, "escalate"),
        (SOCIAL_WORKER_EMAIL, "resolve"),  # a practitioner, not a senior manager
        (SOCIAL_WORKER_EMAIL, "close"),  # after the outcome check: the raiser or partnership
    ],
)
def test_it_refuses_an_event_the_reader_may_not_record(
    web_and_app: tuple[Web, FastAPI], reference: str, email: str, event: str
) -> None:
    client = as_user(web_and_app, email)
    assert client.get(f"/challenges/{reference}/{event}").status_code == 403
    fields = dict(RESOLUTION, reason="Because", kind="upheld", summary="No")
    response = post(client, f"/challenges/{reference}/{event}", fields)
    assert response.status_code == 403
    assert "You cannot do that" in response.text
    assert len(loaded(web_and_app[0], reference)[1]) == 1


def test_it_says_when_the_state_does_not_allow_an_event_now(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    page = client.get(f"/challenges/{reference}/accept")
    assert page.status_code == 409
    assert "Accept the response is not possible now" in error_summary(page.text)
    assert 'action="/challenges/' not in page.text  # no form to fill in for nothing
    response = post(client, f"/challenges/{reference}/accept", {})  # blank, and not allowed
    assert response.status_code == 409
    assert 'href="#' not in error_summary(response.text)  # no field errors for a hidden form
    assert "waiting for a response" in error_summary(response.text)
    assert loaded(web_and_app[0], reference)[0].state == "level_1.awaiting_response"


def test_it_refuses_a_second_acknowledgement(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, SOCIAL_WORKER_EMAIL)
    post(client, f"/challenges/{reference}/acknowledge")
    response = post(client, f"/challenges/{reference}/acknowledge")
    assert response.status_code == 409
    assert f"Level 1 was already acknowledged by {SOCIAL_WORKER}" in error_summary(response.text)
    assert len(loaded(web_and_app[0], reference)[1]) == 2


def test_it_refuses_a_form_without_its_csrf_token(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    response = client.post(f"/challenges/{reference}/withdraw", data={"reason": "Sent by a page"})
    assert response.status_code == 403
    assert "Your form could not be sent" in response.text
    forged = {"reason": "Forged", "csrf_token": "not-the-token"}
    assert client.post(f"/challenges/{reference}/withdraw", data=forged).status_code == 403
    assert loaded(web_and_app[0], reference)[0].state == "level_1.awaiting_response"


def test_it_has_no_form_for_a_sweep_event(web_and_app: tuple[Web, FastAPI], reference: str) -> None:
    client = as_user(web_and_app, SCHOOL_DSL_EMAIL)
    for name in ("lapse", "request_outcome", "raise", "nonsense"):
        assert client.get(f"/challenges/{reference}/{name}").status_code == 404


def test_it_shows_every_form_it_offers_with_its_fields_labelled(
    web_and_app: tuple[Web, FastAPI], reference: str
) -> None:
    client = as_user(web_and_app, DEVON_PARTNERSHIP_EMAIL)
    for event in ("pause", "extend", "resolve", "escalate"):
        page = client.get(f"/challenges/{reference}/{event}")
        if event == "escalate":
            assert page.status_code == 403  # the raiser's alone
            continue
        assert page.status_code == 200, event
        assert page.text.count("<h1") == 1
        assert "novalidate" in page.text and 'name="csrf_token"' in page.text
        for field_id in re.findall(r'<(?:input|textarea)[^>]*\bid="([^"]+)"', page.text):
            assert f'for="{field_id}"' in page.text, (event, field_id)
