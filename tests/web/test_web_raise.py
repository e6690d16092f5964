"""The "raise a challenge" pages: the question flow, check-your-answers, the confirmation, and
who may use them (escalation/web/raising/)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from escalation.casework.models import Challenge, Organisation
from escalation.casework.models_service import RaiseDraft
from escalation.web.context import Web
from tests.conftest import london
from tests.web_support import (
    OTHER_SCHOOL_EMAIL,
    SCHOOL_DSL_EMAIL,
    TestClient,  # imported there with starlette's httpx warning silenced
    browser,
    csrf,
    edited_in_place,
    sign_in_as,
    web_app,
)

NOW = london("2026-12-07 10:00")  # a Monday


@dataclass
class Raising:
    web: Web
    client: TestClient
    token: str

    def post(self, path: str, data: dict[str, str]) -> Any:
        return self.client.post(path, data={**data, "csrf_token": self.token})


@pytest.fixture
def raising(engine: Engine) -> Iterator[Raising]:
    web, app = web_app(engine, clock=lambda: NOW)
    with browser(app) as client:
        sign_in_as(web, client, SCHOOL_DSL_EMAIL)
        yield Raising(web, client, csrf(client, "/raise"))


def _org_id(web: Web, name: str) -> int:
    with web.sessions() as session:
        found = session.scalar(select(Organisation.id).where(Organisation.name == name))
        assert found is not None
        return found


def _answers(web: Web) -> dict[str, dict[str, str]]:
    """What a school DSL types, page by page, in the order the pages come."""
    return {
        "partnership": {"partnership": "devon"},
        "organisation": {"responding-org": str(_org_id(web, "Devon Front Door"))},
        "responder": {
            "responding-team": "Front Door (MASH)",
            "responder-name": "Alex Social Worker",
            "responder-email": "frontdoor.sw@devon.example.org",
        },
        "child": {
            "child-ref": "MARKER-CHILDREF-7731",
            "child-initials": "qzx",
            "child-birth-year": "2016",
            "siblings-affected": "1",
        },
        "category": {"category": "threshold"},
        "decision": {
            "decision": "Referral judged below threshold",
            "decision-date-day": "20",
            "decision-date-month": "11",
            "decision-date-year": "2026",
            "decision-ref": "CONTACT-5521",
        },
        "need": {"need-raiser-view": "4", "need-decision": "unknown"},
        "concern": {"concern": "Attendance falling; disclosures at school", "evidence": ""},
        "outcome": {"desired-outcome": "A social work assessment"},
        "voice": {"voice-of-child": "The child says they are frightened at home"},
        "urgency": {"urgent": "no"},
        "level": {"start-level": "1", "start-reason": ""},
    }


def _walk(raising: Raising) -> list[str]:
    """Answer every question; returns where each answer led."""
    return [
        raising.post(f"/raise/{slug}", answers).headers["location"]
        for slug, answers in _answers(raising.web).items()
    ]


def _challenges(web: Web) -> list[Challenge]:
    with web.sessions() as session:
        return list(session.scalars(select(Challenge).order_by(Challenge.id)))


def _error_hrefs(html: str) -> list[str]:
    summary = html.split('class="govuk-error-summary', 1)
    assert len(summary) == 2, "no GOV.UK error summary on the page"
    return re.findall(r'href="([^"]+)"', summary[1].split("</ul>", 1)[0])


def test_it_raises_a_challenge_with_the_answers_typed_page_by_page(raising: Raising) -> None:
    slugs = list(_answers(raising.web))
    assert _walk(raising) == [f"/raise/{slug}" for slug in slugs[1:]] + ["/raise/check"]
    submitted = raising.post("/raise/check", {})
    assert submitted.status_code == 303
    assert submitted.headers["location"] == "/raise/done/DSCP-2026-00001"
    [challenge] = _challenges(raising.web)
    assert (challenge.reference, challenge.partnership, challenge.level) == (
        "DSCP-2026-00001",
        "devon",
        1,
    )
    assert (challenge.raiser_name, challenge.raiser_email) == ("Dana Lead", SCHOOL_DSL_EMAIL)
    assert (challenge.responding_team, challenge.responder_email) == (
        "Front Door (MASH)",
        "frontdoor.sw@devon.example.org",
    )
    assert (challenge.child_ref, challenge.child_initials, challenge.child_birth_year) == (
        "MARKER-CHILDREF-7731",
        "QZX",
        2016,
    )
    assert challenge.siblings_affected == 1
    assert (challenge.decision_what, challenge.decision_date, challenge.decision_ref) == (
        "Referral judged below threshold",
        "2026-11-20",
        "CONTACT-5521",
    )
    assert (challenge.need_raiser_view, challenge.need_decision) == (4, None)
    assert challenge.evidence is None and challenge.urgent is False
    assert challenge.voice_of_child == "The child says they are frightened at home"


def test_it_shows_the_answers_on_the_check_page_with_change_links(raising: Raising) -> None:
    _walk(raising)
    page = raising.client.get("/raise/check")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"  # the answers are about a child
    for shown in (
        "Devon Front Door",
        "MARKER-CHILDREF-7731",
        "QZX",
        "20 November 2026",
        "4 Specialist",
        "Not known",
        "Risk, threshold or level of need",
        "Level 1: Practitioner to practitioner",
        "Dana Lead",
    ):
        assert shown in page.text
    assert 'href="/raise/child#child-ref"' in page.text
    assert 'href="/raise/decision#decision-date-day"' in page.text


def test_it_shows_empty_questions_empty_and_answered_ones_as_answered(raising: Raising) -> None:
    empty = raising.client.get("/raise/concern").text
    assert re.search(r'<textarea [^>]*id="concern"[^>]*></textarea>', empty)
    _walk(raising)
    answered = raising.client.get("/raise/decision").text
    assert re.search(r'id="decision"[^>]*>Referral judged below threshold</textarea>', answered)
    assert re.search(r'id="decision-date-day"[^>]*value="20"', answered)
    assert re.search(r'value="4"\s+checked', raising.client.get("/raise/need").text)
    assert 'href="/raise/check"' in answered  # back to check-your-answers once all are answered


def test_it_confirms_with_the_reference_and_the_due_date(raising: Raising) -> None:
    _walk(raising)
    done = raising.client.get(raising.post("/raise/check", {}).headers["location"])
    assert done.status_code == 200
    assert "govuk-panel--confirmation" in done.text and "DSCP-2026-00001" in done.text
    assert "14 December 2026 at 5pm" in done.text  # 5 working days after Monday 7 December
    assert 'href="/challenges/DSCP-2026-00001"' in done.text
    assert "We have emailed Alex Social Worker at Devon Front Door" in done.text


def test_it_raises_one_challenge_when_the_button_is_pressed_twice(raising: Raising) -> None:
    _walk(raising)
    first = raising.post("/raise/check", {})
    second = raising.post("/raise/check", {})
    assert first.headers["location"] == "/raise/done/DSCP-2026-00001"
    assert (second.status_code, second.headers["location"]) == (303, "/raise")
    assert len(_challenges(raising.web)) == 1


def test_it_raises_one_challenge_when_two_tabs_submit_at_once(raising: Raising) -> None:
    _walk(raising)
    app = raising.client.app
    tabs = [browser(app) for _ in range(2)]  # type: ignore[arg-type]
    for tab in tabs:
        tab.cookies = raising.client.cookies
    ready = threading.Barrier(len(tabs), timeout=30)  # both tabs pressing within 30 s

    def press(tab: TestClient) -> str:
        ready.wait()
        return str(tab.post("/raise/check", data={"csrf_token": raising.token}).headers["location"])

    with ThreadPoolExecutor(len(tabs)) as pool:
        landed = sorted(pool.map(press, tabs))
    assert landed == ["/raise", "/raise/done/DSCP-2026-00001"]
    assert len(_challenges(raising.web)) == 1


def test_it_says_when_nobody_could_be_emailed(raising: Raising) -> None:
    answers = _answers(raising.web)
    answers["organisation"] = {"responding-org": str(_org_id(raising.web, "Bramble Academy"))}
    answers["responder"] = {}
    for slug, given in answers.items():
        raising.post(f"/raise/{slug}", given)
    done = raising.client.get(raising.post("/raise/check", {}).headers["location"])
    assert "We could not email anyone at Bramble Academy" in done.text  # it has no practitioner


def test_it_names_each_wrong_field_and_links_to_it(raising: Raising) -> None:
    page = raising.post(
        "/raise/child", {"child-ref": " ", "child-initials": "12345", "child-birth-year": "2016"}
    )
    assert page.status_code == 400
    assert _error_hrefs(page.text) == ["#child-ref", "#child-initials"]
    assert "<title>Error:" in page.text
    assert "Enter the child&#39;s reference" in page.text
    assert 'id="child-initials-error"' in page.text and "The child&#39;s initials:" in page.text
    assert 'value="2016"' in page.text  # what was typed is shown again
    assert raising.client.get("/raise/check").headers["location"] == "/raise/partnership"


def test_it_refuses_a_decision_date_in_the_future(raising: Raising) -> None:
    future = {"decision-date-day": "8", "decision-date-month": "12", "decision-date-year": "2026"}
    page = raising.post("/raise/decision", {"decision": "Closed", **future})
    assert page.status_code == 400
    assert _error_hrefs(page.text) == ["#decision-date-day"]
    assert "2026-12-08 is in the future" in page.text


def test_it_needs_a_reason_to_start_above_level_1(raising: Raising) -> None:
    page = raising.post("/raise/level", {"start-level": "3", "start-reason": ""})
    assert page.status_code == 400
    assert _error_hrefs(page.text) == ["#start-reason"]
    moved = raising.post("/raise/level", {"start-level": "3", "start-reason": "Risk is rising"})
    assert moved.status_code == 303


def test_it_does_not_offer_the_raisers_own_organisation(raising: Raising) -> None:
    page = raising.client.get("/raise/organisation")
    offered = re.findall(r"<option [^>]*>([^<]+)</option>", page.text)
    assert offered[:2] == ["Select an organisation", "Bramble Academy (Devon)"]
    assert "Plymouth Gateway (Plymouth)" in offered  # a child may live in another partnership
    assert not [org for org in offered if "Ashcombe" in org or "Business Unit" in org]
    own = str(_org_id(raising.web, "Ashcombe Primary School"))
    refused = raising.post("/raise/organisation", {"responding-org": own})
    assert refused.status_code == 400
    assert _error_hrefs(refused.text) == ["#responding-org"]


def test_it_returns_to_the_check_page_after_a_change(raising: Raising) -> None:
    _walk(raising)
    changed = raising.post("/raise/category", {"category": "roles"})
    assert changed.headers["location"] == "/raise/check"
    assert "Roles and responsibilities" in raising.client.get("/raise/check").text


def test_it_asks_the_protocol_questions_again_for_another_partnership(raising: Raising) -> None:
    _walk(raising)
    moved = raising.post("/raise/partnership", {"partnership": "plymouth"})
    assert moved.headers["location"] == "/raise/need"  # Plymouth's levels of need, not Devon's


def test_it_links_a_problem_found_on_raising_to_its_question(raising: Raising) -> None:
    _walk(raising)
    with raising.web.sessions.begin() as session:  # the organisation leaves the directory
        draft = session.scalars(select(RaiseDraft)).one()
        draft.answers = {**draft.answers, "responding_org_id": 99_999}
    page = raising.post("/raise/check", {})
    assert page.status_code == 400
    assert _error_hrefs(page.text) == ["/raise/organisation#responding-org"]
    assert _challenges(raising.web) == []
    assert raising.client.get("/raise/check").status_code == 200  # the answers are kept


def test_it_warns_about_immediate_risk_before_the_questions(raising: Raising) -> None:
    page = raising.client.get("/raise")
    assert page.status_code == 200
    assert "govuk-warning-text" in page.text and "immediate risk of significant harm" in page.text
    assert 'href="tel:03451551071"' in page.text and "999" in page.text
    assert 'href="/raise/partnership"' in page.text and "Start now" in page.text


def test_it_refuses_a_form_without_its_csrf_token(raising: Raising) -> None:
    page = raising.client.post("/raise/category", data={"category": "roles"})
    assert page.status_code == 403
    _walk(raising)
    assert raising.client.post("/raise/check", data={}).status_code == 403
    assert _challenges(raising.web) == []


def test_it_refuses_a_session_begun_from_a_challenge_link(engine: Engine) -> None:
    web, app = web_app(engine, clock=lambda: NOW)
    with browser(app) as client:
        sign_in_as(web, client, SCHOOL_DSL_EMAIL, scope_reference="DSCP-2026-00001")
        token = csrf(client, "/sign-in")
        assert client.get("/raise").status_code == 403
        assert client.get("/raise/child").status_code == 403
        posted = client.post("/raise/child", data={"child-ref": "X1", "csrf_token": token})
        assert posted.status_code == 403
        assert client.post("/raise/check", data={"csrf_token": token}).status_code == 403


def test_it_refuses_nobody_signed_in(engine: Engine) -> None:
    _, app = web_app(engine, clock=lambda: NOW)
    with browser(app) as client:
        token = csrf(client, "/sign-in")
        for path in ("/raise", "/raise/partnership", "/raise/check", "/raise/done/DSCP-2026-00001"):
            page = client.get(path)
            assert page.status_code == 403 and "Sign in" in page.text, path
        assert client.post("/raise/check", data={"csrf_token": token}).status_code == 403


def test_it_shows_the_confirmation_only_to_those_who_may_see_it(raising: Raising) -> None:
    _walk(raising)
    raising.post("/raise/check", {})
    sign_in_as(raising.web, raising.client, OTHER_SCHOOL_EMAIL)
    assert raising.client.get("/raise/done/DSCP-2026-00001").status_code == 404
    with raising.web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Challenge)) == 1


def test_it_raises_for_an_organisation_whose_name_another_partnership_also_uses(
    raising: Raising,
) -> None:
    """Names are unique only within a partnership: the web raises by the organisations' ids."""
    for partnership in ("plymouth", "torbay"):
        with raising.web.sessions.begin() as session:
            for name in ("Ashcombe Primary School", "Devon Front Door"):
                session.add(Organisation(name=name, type="school", partnership=partnership))
    _walk(raising)
    assert raising.post("/raise/check", {}).status_code == 303
    [challenge] = _challenges(raising.web)
    with raising.web.sessions() as session:
        raising_org = session.get(Organisation, challenge.raising_org_id)
        responding_org = session.get(Organisation, challenge.responding_org_id)
        assert raising_org is not None and responding_org is not None
        assert (raising_org.partnership, responding_org.partnership) == ("devon", "devon")


def test_it_forgets_a_half_raised_challenge_on_sign_out(raising: Raising) -> None:
    raising.post("/raise/partnership", {"partnership": "devon"})
    raising.post("/raise/child", _answers(raising.web)["child"])
    with raising.web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RaiseDraft)) == 1
    assert raising.post("/sign-out", {}).status_code == 200
    with raising.web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RaiseDraft)) == 0


@pytest.mark.parametrize("started_after_the_pin", [True, False], ids=["restarted", "racing"])
def test_it_keeps_the_answers_and_says_why_when_the_protocol_was_edited_in_place(
    engine: Engine, started_after_the_pin: bool
) -> None:
    registry = edited_in_place(engine, started_after_the_pin)
    web, app = web_app(engine, clock=lambda: NOW, registry=registry)
    with browser(app) as client:
        sign_in_as(web, client, SCHOOL_DSL_EMAIL)
        raising = Raising(web, client, csrf(client, "/raise"))
        _walk(raising)
        page = raising.post("/raise/check", {})
        assert page.status_code == 400
        assert _error_hrefs(page.text) == ["/raise/partnership#partnership"]
        assert "challenges cannot be raised with this partnership just now" in page.text
        assert "must be corrected by its business manager" in page.text
        assert "or 999 in an emergency" in page.text
        assert "devon.yaml" not in page.text  # the server's files are not the school's to read
        assert _challenges(web) == []
        assert raising.client.get("/raise/check").status_code == 200  # the answers are kept
