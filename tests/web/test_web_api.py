"""The JSON API: partners' systems raise and follow challenges with their organisation's token.

Each test builds the real app on the test database (SQLite and PostgreSQL) with the web
directory (tests/fixtures/web_directory.csv) and issues tokens the way `escalation api-tokens
create` does. The clock is fixed, on a Monday in term time, and moved by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from escalation.casework import store
from escalation.web import store as store_web
from escalation.web.context import Web
from tests.conftest import FRONT_DOOR, SCHOOL, london
from tests.web_support import (
    USER_EVENTS,
    TestClient,
    browser,
    edited_in_place,
    minimal_event_body,
    web_app,
)

OTHER_SCHOOL = "Bramble Academy"
DEVON_UNIT = "Devon SCP Business Unit"
PLYMOUTH_UNIT = "Plymouth SCP Business Unit"
EVENTS = USER_EVENTS


@dataclass
class Api:
    """The app, a client, a movable clock, and one token per organisation that asked for one."""

    web: Web
    client: TestClient
    clock: list[datetime]
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, organisation: str) -> dict[str, str]:
        if organisation not in self.tokens:
            with self.web.sessions.begin() as session:
                org = store.find_organisation(session, organisation)
                _, token = store_web.create_api_token(
                    session, org, "case system", "Ari Admin", self.clock[0]
                )
            self.tokens[organisation] = token
        return {"Authorization": f"Bearer {self.tokens[organisation]}"}

    def get(self, organisation: str, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params=params, headers=self.auth(organisation))

    def post(self, organisation: str, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(f"/api/v1{path}", json=body, headers=self.auth(organisation))

    def event(self, organisation: str, reference: str, event: str, **body: Any) -> Any:
        body.setdefault("who", "Jo Bloggs")
        return self.post(organisation, f"/challenges/{reference}/events/{event}", body)

    def raise_one(self, **overrides: Any) -> str:
        response = self.post(SCHOOL, "/challenges", challenge_body(**overrides))
        assert response.status_code == 201, response.text
        reference: str = response.json()["reference"]
        return reference


def challenge_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "raiser_name": "Dana Lead",
        "raiser_email": "dsl@ashcombe.example.org",
        "responding_org": FRONT_DOOR,
        "child_ref": "CHILD-REF-001",
        "child_initials": "AB",
        "child_birth_year": 2015,
        "category": "threshold",
        "decision": "Referral judged below threshold",
        "decision_date": "2026-12-01",
        "concern": "Attendance falling; disclosures at school",
        "desired_outcome": "A social work assessment",
        "voice_of_child": "The child says they are frightened at home",
        "need_raiser_view": 4,
        "need_decision": 2,
    }
    return body | overrides


RESOLUTION = {
    "outcome": "decision_changed",
    "statement": "An assessment will start",
    "life_improvement": "A social worker will see the child at home this week",
}


@pytest.fixture
def api(engine: Engine) -> Api:
    clock = [london("2026-12-07 10:00")]
    web, app = web_app(engine, clock=lambda: clock[0])
    return Api(web, browser(app), clock)


def test_it_raises_responds_and_accepts_through_the_api(api: Api) -> None:
    raised = api.post(SCHOOL, "/challenges", challenge_body())
    assert raised.status_code == 201
    reference = raised.json()["reference"]
    assert raised.headers["location"] == f"/api/v1/challenges/{reference}"
    assert raised.json()["raising_organisation"] == SCHOOL
    assert raised.json()["state"] == "level_1.awaiting_response"
    assert raised.json()["due_at"] == "2026-12-14T17:00:00+00:00"
    assert "respond" not in raised.json()["actions"]

    seen = api.get(FRONT_DOOR, f"/challenges/{reference}").json()
    assert seen["actions"][:2] == ["acknowledge", "respond"]
    responded = api.event(
        FRONT_DOOR,
        reference,
        "respond",
        who="Alex Social Worker",
        kind="changed",
        summary="We will assess",
        actions=[{"what": "Assessment", "owner": "Alex", "by": "2026-12-11"}, {"what": "Call"}],
    )
    assert responded.status_code == 200, responded.text
    assert responded.json()["stages"][0]["actions"][0] == {
        "what": "Assessment",
        "owner": "Alex",
        "by": "2026-12-11",
    }
    accepted = api.event(SCHOOL, reference, "accept", who="Dana Lead", **RESOLUTION)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "resolved"
    assert accepted.json()["outcome"]["how_life_will_improve"] == RESOLUTION["life_improvement"]

    chronology = api.get(SCHOOL, f"/challenges/{reference}/chronology").json()
    assert [entry["event"] for entry in chronology] == ["raise", "respond", "accept"]
    assert chronology[1]["who"] == "Alex Social Worker (Devon Front Door via API: case system)"
    assert chronology[2]["who"] == "Dana Lead (Ashcombe Primary School via API: case system)"
    assert chronology[1]["factual_concern"] == "We will assess"


def test_it_moves_a_challenge_through_every_other_event(api: Api) -> None:
    reference = api.raise_one()
    steps = [
        (FRONT_DOOR, "acknowledge", {}, "level_1.awaiting_response"),
        (FRONT_DOOR, "pause", {"agreed_by": "Dana Lead", "reason": "Strategy meeting"}, "paused"),
        (SCHOOL, "resume", {"note": "Meeting held"}, "level_1.awaiting_response"),
        (
            SCHOOL,
            "extend",
            {"agreed_by": "Alex", "until": "2026-12-18", "reason": "Records"},
            "level_1.awaiting_response",
        ),
        (SCHOOL, "escalate", {"reason": "No progress", "to_level": 3}, "level_3.awaiting_response"),
        (DEVON_UNIT, "resolve", RESOLUTION, "resolved"),
        (SCHOOL, "outcome", {"improved": False, "note": "Still absent"}, "outcome_not_improved"),
        (SCHOOL, "reopen", {"reason": "Nothing changed"}, "level_3.awaiting_response"),
        (SCHOOL, "withdraw", {"reason": "Child moved away"}, "withdrawn"),
    ]
    for organisation, event, body, state in steps:
        response = api.event(organisation, reference, event, **body)
        assert response.status_code == 200, (event, response.text)
        assert response.json()["state"].endswith(state), event
    extended = api.get(SCHOOL, f"/challenges/{reference}").json()["stages"][0]
    assert extended["due_at"] == "2026-12-18T16:00:00+00:00"  # Friday: the Front Door shuts at 4


def test_it_lets_the_raiser_or_the_partnership_close_after_the_outcome_check(api: Api) -> None:
    first, second = api.raise_one(), api.raise_one()
    for reference in (first, second):
        api.event(FRONT_DOOR, reference, "respond", kind="upheld", summary="Threshold not met")
        api.event(SCHOOL, reference, "accept", **RESOLUTION)
        api.event(SCHOOL, reference, "outcome", improved=False)
    assert api.event(FRONT_DOOR, first, "close", reason="No reopening").status_code == 403
    for organisation, reference in ((SCHOOL, first), (DEVON_UNIT, second)):
        closed = api.event(organisation, reference, "close", reason="No reopening")
        assert closed.status_code == 200, closed.text
        assert closed.json()["state"] == "closed"
        assert closed.json()["actions"] == []


def test_it_hides_a_challenge_from_another_organisation_with_404(api: Api) -> None:
    reference = api.raise_one()
    for path in (f"/challenges/{reference}", f"/challenges/{reference}/chronology"):
        assert api.get(OTHER_SCHOOL, path).status_code == 404
    for event in EVENTS:
        response = api.event(OTHER_SCHOOL, reference, event, **minimal_event_body(event))
        assert response.status_code == 404, (event, response.text)
        assert response.json() == {
            "detail": "no challenge with that reference that your organisation can see"
        }
    assert api.get(OTHER_SCHOOL, "/challenges", status="all").json()["total"] == 0
    assert api.get(OTHER_SCHOOL, "/challenges/DSCP-2026-99999").status_code == 404


def test_it_hides_a_challenge_from_another_partnership_but_shows_it_to_its_own(api: Api) -> None:
    reference = api.raise_one()
    assert api.get(PLYMOUTH_UNIT, f"/challenges/{reference}").status_code == 404
    assert api.event(PLYMOUTH_UNIT, reference, "resolve", **RESOLUTION).status_code == 404
    assert api.get(PLYMOUTH_UNIT, "/challenges").json()["items"] == []
    own = api.get(DEVON_UNIT, f"/challenges/{reference}")
    assert own.status_code == 200
    assert "close" not in own.json()["actions"]
    assert "resolve" in own.json()["actions"]


def test_it_refuses_a_missing_invalid_or_revoked_token_with_403(api: Api) -> None:
    reference = api.raise_one()
    path = f"/api/v1/challenges/{reference}"
    headers = api.auth(SCHOOL)
    assert api.client.get(path, headers=headers).status_code == 200
    with api.web.sessions.begin() as session:
        for row in store_web.api_tokens(session):
            row.revoked_at = api.clock[0]
    for sent in (
        {},
        {"Authorization": "Bearer esc_not-a-token"},
        {"Authorization": headers["Authorization"].replace("Bearer", "Basic")},
        headers,  # revoked
    ):
        refused = api.client.get(path, headers=sent)
        assert refused.status_code == 403, sent
        assert refused.json()["detail"].startswith("send a valid API token")
        assert api.client.post("/api/v1/challenges", json={}, headers=sent).status_code == 403


def test_it_refuses_the_other_sides_event_with_403(api: Api) -> None:
    reference = api.raise_one()
    refused = api.event(SCHOOL, reference, "respond", kind="upheld", summary="Not ours to answer")
    assert refused.status_code == 403
    assert "respond" in refused.json()["detail"]
    assert api.event(FRONT_DOOR, reference, "withdraw", reason="Not theirs").status_code == 403
    assert len(api.get(SCHOOL, f"/challenges/{reference}/chronology").json()) == 1


def test_it_answers_409_with_the_allowed_events_when_the_state_does_not_allow_it(
    api: Api,
) -> None:
    reference = api.raise_one()
    refused = api.event(SCHOOL, reference, "accept", **RESOLUTION)
    assert refused.status_code == 409
    body = refused.json()
    assert body["state"] == "level_1.awaiting_response"
    assert body["allowed_events"] == [
        "acknowledge",
        "respond",
        "escalate",
        "pause",
        "extend",
        "withdraw",
        "resolve",
    ]
    # An API token cannot show a senior manager is at the keyboard: only the partnership's
    # token resolves (the raiser's system accepts a response instead).
    assert body["actions"] == ["escalate", "pause", "extend", "withdraw"]
    assert "'accept' is not allowed" in body["detail"]
    assert api.event(SCHOOL, reference, "resolve", **RESOLUTION).status_code == 403

    assert api.event(FRONT_DOOR, reference, "acknowledge").status_code == 200
    again = api.event(FRONT_DOOR, reference, "acknowledge")
    assert again.status_code == 409
    assert "already acknowledged" in again.json()["detail"]


PIPE = "actions.0.what"  # the service reads actions as "what | owner | date"
UNOWNED = {"what": "Visit", "by": "2026-12-09"}


@pytest.mark.parametrize(
    ("event", "body", "field"),
    [
        ("accept", {"life_improvement": "   "}, "life_improvement"),
        ("accept", {"outcome": "fine"}, "outcome"),
        ("accept", {"colour": "blue"}, "colour"),
        ("escalate", {"reason": "Stuck", "to_level": 9}, "to_level"),
        ("pause", {"agreed_by": "Dana", "reason": "x" * 10_001}, "reason"),
        ("extend", {"agreed_by": "Dana", "until": "2026-12-25", "reason": "x"}, "until"),
        ("respond", {"kind": "upheld", "summary": "x", "actions": [{"what": "a|b"}]}, PIPE),
        ("respond", {"kind": "upheld", "summary": "x", "actions": [UNOWNED]}, "actions.0"),
        ("acknowledge", {"who": "Jo\nBloggs"}, "who"),
        ("acknowledge", {"who": "Jo\x00"}, "who"),
    ],
)
def test_it_answers_422_naming_the_field(
    api: Api, event: str, body: dict[str, Any], field: str
) -> None:
    reference = api.raise_one()
    if event == "accept":
        api.event(FRONT_DOOR, reference, "respond", kind="upheld", summary="No")
        body = RESOLUTION | body
    organisation = SCHOOL if event in {"accept", "escalate", "extend"} else FRONT_DOOR
    refused = api.event(organisation, reference, event, **body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == "invalid input"
    assert [p["field"] for p in refused.json()["problems"]] == [field]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"concern": None}, "concern"),
        ({"responding_org": "Nowhere Council"}, "responding_org"),
        ({"responding_org": SCHOOL}, "responding_org"),
        ({"responding_org": None}, "body"),
        ({"responding_org_id": 9999}, "responding_org_id"),
        ({"responding_org_id": 2**40}, "responding_org_id"),
        ({"partnership": "cornwall"}, "partnership"),
        ({"start_level": 3}, "start_reason"),
        ({"child_birth_year": 1990}, "child_birth_year"),
        ({"child_initials": "A.B."}, "child_initials"),
        ({"decision_date": "2027-01-01"}, "decision_date"),
        ({"raiser_email": "not an address"}, "raiser_email"),
        ({"siblings_affected": 10**20}, "siblings_affected"),
    ],
)
def test_it_refuses_a_bad_raise_with_422_naming_the_field(
    api: Api, overrides: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in challenge_body(**overrides).items() if v is not None}
    refused = api.post(SCHOOL, "/challenges", body)
    assert refused.status_code == 422, refused.text
    assert [p["field"] for p in refused.json()["problems"]] == [field]
    assert api.get(SCHOOL, "/challenges", status="all").json()["total"] == 0


@pytest.mark.parametrize("started_after_the_pin", [True, False], ids=["restarted", "racing"])
def test_it_answers_503_while_the_protocol_is_edited_in_place_and_writes_nothing(
    engine: Engine, started_after_the_pin: bool, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [london("2026-12-07 10:00")]
    registry = edited_in_place(engine, started_after_the_pin)
    web, app = web_app(engine, clock=lambda: clock[0], registry=registry)
    api = Api(web, browser(app), clock)
    refused = api.post(SCHOOL, "/challenges", challenge_body())
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "3600"
    detail = refused.json()["detail"]
    assert detail.startswith("challenges cannot be raised with this partnership just now")
    assert "devon" not in detail  # neither the file's name nor the server's paths
    assert "999" in detail  # immediate risk is never a challenge
    # The business manager reads which file, in the log.
    assert "raise refused: no new challenge can be raised on devon@1: devon.yaml" in caplog.text
    assert api.get(SCHOOL, "/challenges", status="all").json()["total"] == 0
    plymouth = api.post(
        SCHOOL,
        "/challenges",
        challenge_body(partnership="plymouth", responding_org="Plymouth Gateway"),
    )
    assert plymouth.status_code == 201, plymouth.text  # another partnership's protocol runs on


def test_it_raises_for_a_child_of_another_partnership(api: Api) -> None:
    reference = api.raise_one(partnership="plymouth", responding_org="Plymouth Gateway")
    assert reference.startswith("PSCP-")
    assert api.get(PLYMOUTH_UNIT, f"/challenges/{reference}").status_code == 200
    assert api.get(DEVON_UNIT, f"/challenges/{reference}").status_code == 404


def test_it_shows_a_partnership_unit_what_it_raised_for_another_partnership(api: Api) -> None:
    raised = api.post(
        DEVON_UNIT,
        "/challenges",
        challenge_body(partnership="plymouth", responding_org="Plymouth Gateway"),
    )
    assert raised.status_code == 201, raised.text
    reference = raised.json()["reference"]
    assert raised.json()["actions"] == ["escalate", "pause", "extend", "withdraw", "resolve"]
    assert api.get(DEVON_UNIT, "/challenges").json()["items"][0]["reference"] == reference
    assert api.event(DEVON_UNIT, reference, "withdraw", reason="Wrong child").status_code == 200


def test_it_lists_filters_and_pages_the_visible_challenges(api: Api) -> None:
    first, second, third = (api.raise_one(child_ref=f"C-{n}") for n in range(3))
    api.event(FRONT_DOOR, second, "respond", kind="upheld", summary="No")
    api.event(SCHOOL, third, "withdraw", reason="Moved away")
    elsewhere = api.post(OTHER_SCHOOL, "/challenges", challenge_body(raiser_name="Bea Other"))

    def references(organisation: str, **params: Any) -> list[str]:
        page = api.get(organisation, "/challenges", **params)
        assert page.status_code == 200, page.text
        return [item["reference"] for item in page.json()["items"]]

    assert references(SCHOOL) == [first, second]
    assert references(SCHOOL, status="closed") == [third]
    assert references(SCHOOL, status="all", limit=2, offset=1) == [second, third]
    assert references(SCHOOL, awaiting_me="true") == [second]
    assert references(FRONT_DOOR, awaiting_me="true") == [first, elsewhere.json()["reference"]]
    assert len(references(DEVON_UNIT)) == 3
    assert api.get(SCHOOL, "/challenges", limit=1).json()["total"] == 2

    assert references(SCHOOL, overdue="true") == []
    api.clock[0] = london("2026-12-15 10:00")
    assert references(SCHOOL, overdue="true") == [first]
    listed = api.get(FRONT_DOOR, "/challenges", overdue="true").json()["items"][0]
    assert listed["overdue"] is True
    assert listed["child_reference"] == "C-0"
    assert listed["actions"][:2] == ["acknowledge", "respond"]
    assert api.get(SCHOOL, "/challenges", limit=0).status_code == 422


def test_it_lists_the_organisations_of_a_partnership_with_their_ids(api: Api) -> None:
    devon = api.get(SCHOOL, "/organisations").json()
    assert [org["name"] for org in devon] == [SCHOOL, OTHER_SCHOOL, FRONT_DOOR, DEVON_UNIT]
    plymouth = api.get(SCHOOL, "/organisations", partnership="plymouth").json()
    assert {org["partnership"] for org in plymouth} == {"plymouth"}
    assert api.get(PLYMOUTH_UNIT, "/organisations").json() == plymouth
    assert set(plymouth[0]) == {"id", "name", "type", "partnership"}  # no contacts' addresses

    gateway = next(org for org in plymouth if org["name"] == "Plymouth Gateway")
    body = challenge_body(partnership="plymouth", responding_org_id=gateway["id"])
    del body["responding_org"]
    raised = api.post(SCHOOL, "/challenges", body)
    assert raised.status_code == 201, raised.text
    assert raised.json()["responding_organisation"] == "Plymouth Gateway"


def test_it_documents_every_endpoint_and_the_bearer_scheme(api: Api) -> None:
    document = api.client.get("/api/openapi.json").json()
    challenge = "/api/v1/challenges/{reference}"
    assert set(document["paths"]) == {
        "/api/v1/challenges",
        challenge,
        f"{challenge}/chronology",
        "/api/v1/organisations",
        *(f"{challenge}/events/{event}" for event in EVENTS),
    }
    assert document["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Your organisation's API token: `Authorization: Bearer esc_…`",
    }
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) == 17
    for operation in operations:
        assert operation["security"] == [{"apiToken": []}]
        assert {"403", "422"} <= set(operation["responses"])
    for event in EVENTS:
        responses = document["paths"][f"{challenge}/events/{event}"]["post"]["responses"]
        assert set(responses) == {"200", "400", "403", "404", "409", "422"}
    raised = document["paths"]["/api/v1/challenges"]["post"]["responses"]["201"]
    assert "Location" in raised["headers"]
    paused = document["paths"]["/api/v1/challenges"]["post"]["responses"]["503"]
    assert paused["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert "Retry-After" in paused["headers"] and "changed in place" in paused["description"]
    body = document["components"]["schemas"]["RaiseBody"]
    assert body["additionalProperties"] is False
    assert body["properties"]["child_ref"]["maxLength"] == 64
