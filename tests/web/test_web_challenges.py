"""The pages for following challenges: the list, one challenge's page, and the chronology files.

Each test raises challenges through the service on the test database and reads the pages as a
signed-in browser would; the clock is fixed on a Monday morning in December 2026.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from escalation.casework import store
from escalation.casework.intake import Resolution
from escalation.rules.states import Event
from escalation.web.context import Web
from tests.conftest import PRIVACY_MARKERS, london, raise_request
from tests.web_support import (
    DEVON_PARTNERSHIP_EMAIL,
    HEAD_EMAIL,
    OTHER_SCHOOL_EMAIL,
    PLYMOUTH_PARTNERSHIP_EMAIL,
    SCHOOL_DSL_EMAIL,
    SOCIAL_WORKER_EMAIL,
    USER_EVENTS,
    browser,
    csrf,
    sign_in_as,
    web_app,
)

NOW = london("2026-12-07 10:00")  # a Monday
FORMS = USER_EVENTS


@pytest.fixture
def site(engine: Engine) -> tuple[Web, FastAPI]:
    return web_app(engine, clock=lambda: NOW)


def raise_at(web: Web, when: datetime = NOW - timedelta(hours=1), **fields: object) -> str:
    return web.service.raise_challenge(raise_request(**fields), when)


def page_as(site: tuple[Web, FastAPI], email: str, path: str, scope: str | None = None) -> str:
    web, app = site
    client = browser(app)
    sign_in_as(web, client, email, scope)
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.text


def panels(page: str) -> dict[str, str]:
    """Each tab's panel of the list page, by its id."""
    found = {}
    for part in page.split('<div class="govuk-tabs__panel')[1:]:
        match = re.match(r'[^"]*" id="([^"]+)"', part)
        assert match is not None
        found[match.group(1)] = part.split("</table>")[0]
    return found


def buttons(page: str) -> list[str]:
    """The action buttons' texts on a challenge page."""
    group = page.split('class="govuk-button-group"')[1].split("</div>")[0]
    return [re.sub(r"\s+", " ", text).strip() for text in re.findall(r">([^<>]+)</a>", group)]


# -- the list --------------------------------------------------------------------------------


def test_it_lists_a_new_challenge_as_waiting_for_the_responder(
    site: tuple[Web, FastAPI],
) -> None:
    reference = raise_at(site[0])
    lists = panels(page_as(site, SOCIAL_WORKER_EMAIL, "/challenges"))
    assert reference in lists["waiting"]
    assert reference in lists["open"]
    assert reference not in lists["overdue"]
    assert "Ashcombe Primary School" in lists["waiting"]  # the other organisation
    assert "14 December 2026 at 5pm" in lists["waiting"]  # due, five working days on


def test_it_lists_a_new_challenge_as_open_but_not_waiting_for_the_raiser(
    site: tuple[Web, FastAPI],
) -> None:
    reference = raise_at(site[0])
    lists = panels(page_as(site, SCHOOL_DSL_EMAIL, "/challenges"))
    assert reference in lists["open"]
    assert reference not in lists["waiting"]
    assert "Devon Front Door" in lists["open"]


def test_it_moves_a_responded_challenge_to_the_raisers_waiting_list(
    site: tuple[Web, FastAPI],
) -> None:
    web = site[0]
    reference = raise_at(web)
    web.service.respond(reference, "Alex Social Worker", "upheld", "Below threshold", [], NOW)
    assert reference in panels(page_as(site, SCHOOL_DSL_EMAIL, "/challenges"))["waiting"]
    assert reference not in panels(page_as(site, SOCIAL_WORKER_EMAIL, "/challenges"))["waiting"]


def test_it_lists_a_challenge_past_its_due_date_as_overdue_for_both_sides(
    site: tuple[Web, FastAPI],
) -> None:
    web = site[0]
    late = raise_at(web, london("2026-11-23 10:00"))  # due 30 November: no sweep has run
    on_time = raise_at(web)
    for email in (SOCIAL_WORKER_EMAIL, SCHOOL_DSL_EMAIL):
        lists = panels(page_as(site, email, "/challenges"))
        assert late in lists["overdue"] and on_time not in lists["overdue"]
        row = lists["overdue"].split(late)[-1].split("</tr>")[0]
        assert re.search(r"govuk-tag[^>]*>\s*Overdue", row)  # in words, not colour alone


def test_it_does_not_count_a_responded_challenge_as_overdue(site: tuple[Web, FastAPI]) -> None:
    web = site[0]
    reference = raise_at(web, london("2026-11-23 10:00"))
    web.service.respond(reference, "Alex Social Worker", "changed", "Assessment opened", [], NOW)
    assert reference not in panels(page_as(site, SOCIAL_WORKER_EMAIL, "/challenges"))["overdue"]


def test_it_lists_a_withdrawn_challenge_as_recently_finished(site: tuple[Web, FastAPI]) -> None:
    web = site[0]
    reference = raise_at(web)
    web.service.withdraw(reference, "Dana Lead", "Resolved by a phone call", NOW)
    lists = panels(page_as(site, SCHOOL_DSL_EMAIL, "/challenges"))
    assert reference in lists["finished"]
    assert reference not in lists["open"] and reference not in lists["waiting"]


def test_it_lists_a_resolved_challenge_as_finished_until_its_outcome_check(
    site: tuple[Web, FastAPI],
) -> None:
    web = site[0]
    reference = raise_at(web)
    resolution = Resolution("decision_changed", "Assessment opened", "Seen by a social worker")
    web.service.resolve(reference, "Jo Service Manager", resolution, NOW)
    lists = panels(page_as(site, SCHOOL_DSL_EMAIL, "/challenges"))
    assert reference in lists["finished"]
    assert reference not in lists["waiting"]  # nothing is asked until the check is due
    ask_outcome(web, reference)
    assert reference in panels(page_as(site, SCHOOL_DSL_EMAIL, "/challenges"))["waiting"]
    assert reference not in panels(page_as(site, SOCIAL_WORKER_EMAIL, "/challenges"))["waiting"]


def ask_outcome(web: Web, reference: str) -> None:
    """What the sweep does 20 working days after resolution."""
    with web.sessions.begin() as session:
        challenge = store.load_challenge(session, reference)
        web.service.transition(session, challenge, Event.REQUEST_OUTCOME, NOW, {}, "Check due")


def test_it_shows_the_partnership_every_challenge_of_its_partnership_without_the_child(
    site: tuple[Web, FastAPI],
) -> None:
    web = site[0]
    first = raise_at(web, child_ref=PRIVACY_MARKERS["child_ref"])
    second = raise_at(web, raising_org="Bramble Academy", raiser_name="Bea Other")
    page = page_as(site, DEVON_PARTNERSHIP_EMAIL, "/challenges")
    assert first in panels(page)["open"] and second in panels(page)["open"]
    assert "Ashcombe Primary School challenges Devon Front Door" in page
    assert PRIVACY_MARKERS["child_ref"] not in page
    assert first not in page_as(site, PLYMOUTH_PARTNERSHIP_EMAIL, "/challenges")


def test_it_never_lists_another_organisations_challenge(site: tuple[Web, FastAPI]) -> None:
    reference = raise_at(site[0])
    assert reference not in page_as(site, OTHER_SCHOOL_EMAIL, "/challenges")


def test_it_lists_only_the_one_challenge_of_an_email_link(site: tuple[Web, FastAPI]) -> None:
    web = site[0]
    first, second = raise_at(web), raise_at(web)
    page = page_as(site, SCHOOL_DSL_EMAIL, "/challenges", scope=second)
    assert second in page and first not in page


def test_it_keeps_the_concern_out_of_the_list(site: tuple[Web, FastAPI]) -> None:
    raise_at(
        site[0],
        concern=PRIVACY_MARKERS["concern"],
        voice_of_child=PRIVACY_MARKERS["voice_of_child"],
        decision=PRIVACY_MARKERS["decision"],
    )
    page = page_as(site, SOCIAL_WORKER_EMAIL, "/challenges")
    for marker in ("concern", "voice_of_child", "decision"):
        assert PRIVACY_MARKERS[marker] not in page


def test_it_asks_a_stranger_to_sign_in_for_the_list(site: tuple[Web, FastAPI]) -> None:
    response = browser(site[1]).get("/challenges")
    assert response.status_code == 403
    assert "Sign in" in response.text


# -- one challenge ---------------------------------------------------------------------------


def test_it_offers_the_responder_acknowledge_and_respond(site: tuple[Web, FastAPI]) -> None:
    reference = raise_at(site[0])
    page = page_as(site, SOCIAL_WORKER_EMAIL, f"/challenges/{reference}")
    assert buttons(page)[:2] == ["Acknowledge", "Respond"]
    assert "Accept the response" not in buttons(page) and "Withdraw" not in buttons(page)
    assert "Acknowledge that you have received this challenge, by 8 December 2026" in page


def test_it_offers_the_raiser_escalate_and_withdraw_but_not_respond(
    site: tuple[Web, FastAPI],
) -> None:
    reference = raise_at(site[0])
    page = page_as(site, SCHOOL_DSL_EMAIL, f"/challenges/{reference}")
    assert {"Escalate", "Withdraw", "Pause"} <= set(buttons(page))
    assert "Acknowledge" not in buttons(page) and "Respond" not in buttons(page)
    assert "Resolve" not in buttons(page)  # a DSL is not a senior manager
    assert "Nothing is asked of you on this challenge now." in page


def test_it_asks_the_raiser_to_accept_or_escalate_a_response(site: tuple[Web, FastAPI]) -> None:
    web = site[0]
    reference = raise_at(web)
    web.service.respond(reference, "Alex Social Worker", "upheld", "Below threshold", [], NOW)
    page = page_as(site, SCHOOL_DSL_EMAIL, f"/challenges/{reference}")
    assert buttons(page)[:2] == ["Accept the response", "Escalate"]
    assert "accept it (the challenge is resolved) or escalate it" in page
    assert "Below threshold" in page  # the response itself, to decide on


def test_it_offers_a_senior_manager_the_resolution(site: tuple[Web, FastAPI]) -> None:
    reference = raise_at(site[0])
    assert "Resolve" in buttons(page_as(site, HEAD_EMAIL, f"/challenges/{reference}"))


def test_it_shows_the_whole_record_to_a_party(site: tuple[Web, FastAPI]) -> None:
    reference = raise_at(
        site[0],
        concern=PRIVACY_MARKERS["concern"],
        voice_of_child=PRIVACY_MARKERS["voice_of_child"],
        child_ref=PRIVACY_MARKERS["child_ref"],
    )
    page = page_as(site, SOCIAL_WORKER_EMAIL, f"/challenges/{reference}")
    for marker in ("concern", "voice_of_child", "child_ref"):
        assert PRIVACY_MARKERS[marker] in page
    assert "1: Practitioner to practitioner" in page
    assert "4 Specialist" in page and "2 Early Help" in page
    assert "14 December 2026 at 5pm" in page  # response due
    assert "Challenge raised" in page  # the chronology


def test_it_refuses_to_cache_a_challenge_page(site: tuple[Web, FastAPI]) -> None:
    web, app = site
    reference = raise_at(web)
    client = browser(app)
    sign_in_as(web, client, SOCIAL_WORKER_EMAIL)
    assert client.get(f"/challenges/{reference}").headers["cache-control"] == "no-store"


def test_it_shows_a_success_banner_only_for_a_known_event(site: tuple[Web, FastAPI]) -> None:
    reference = raise_at(site[0])
    done = page_as(site, SOCIAL_WORKER_EMAIL, f"/challenges/{reference}?done=acknowledge")
    assert "govuk-notification-banner--success" in done
    assert "You have acknowledged the challenge" in done
    odd = page_as(site, SOCIAL_WORKER_EMAIL, f"/challenges/{reference}?done=<b>hello</b>")
    assert "govuk-notification-banner" not in odd and "hello" not in odd


def test_it_hides_a_challenge_from_anyone_outside_it_on_every_route(
    site: tuple[Web, FastAPI],
) -> None:
    web, app = site
    reference = raise_at(web)
    for email, scope in (
        (OTHER_SCHOOL_EMAIL, None),
        (PLYMOUTH_PARTNERSHIP_EMAIL, None),
        (SCHOOL_DSL_EMAIL, raise_at(web)),  # an email link to another challenge
    ):
        client = browser(app)
        sign_in_as(web, client, email, scope)
        token = csrf(client, "/challenges")
        paths = [f"/challenges/{reference}", f"/challenges/{reference}/chronology.csv"]
        paths += [f"/challenges/{reference}/chronology.txt"]
        paths += [f"/challenges/{reference}/{form}" for form in FORMS]
        for path in paths:
            assert client.get(path).status_code == 404, (email, path)
        for form in FORMS:
            posted = client.post(f"/challenges/{reference}/{form}", data={"csrf_token": token})
            assert posted.status_code == 404, (email, form)
    assert "Page not found" in client.get(f"/challenges/{reference}").text


def test_it_answers_404_for_a_challenge_that_does_not_exist(site: tuple[Web, FastAPI]) -> None:
    web, app = site
    client = browser(app)
    sign_in_as(web, client, SCHOOL_DSL_EMAIL)
    assert client.get("/challenges/DSCP-2026-99999").status_code == 404


# -- the chronology as a file ------------------------------------------------------------------


def test_it_exports_the_chronology_as_csv(site: tuple[Web, FastAPI]) -> None:
    web, app = site
    reference = raise_at(web)
    web.service.acknowledge(reference, "Alex Social Worker", NOW)
    client = browser(app)
    sign_in_as(web, client, SCHOOL_DSL_EMAIL)
    response = client.get(f"/challenges/{reference}/chronology.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="{reference}-chronology.csv"'
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["event"] for row in rows] == ["raise", "acknowledge"]
    assert rows[0]["factual_concern"] == "Attendance falling; disclosures at school"
    assert rows[1]["who"] == "Alex Social Worker"
    assert rows[1]["when"] == "2026-12-07T10:00:00+00:00"


def test_it_exports_the_chronology_as_text(site: tuple[Web, FastAPI]) -> None:
    web, app = site
    reference = raise_at(web)
    client = browser(app)
    sign_in_as(web, client, DEVON_PARTNERSHIP_EMAIL)
    response = client.get(f"/challenges/{reference}/chronology.txt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert f'filename="{reference}-chronology.txt"' in response.headers["content-disposition"]
    assert "concern: Attendance falling; disclosures at school" in response.text


def test_it_offers_no_other_chronology_format(site: tuple[Web, FastAPI]) -> None:
    web, app = site
    reference = raise_at(web)
    client = browser(app)
    sign_in_as(web, client, SCHOOL_DSL_EMAIL)
    assert client.get(f"/challenges/{reference}/chronology.json").status_code == 404
