"""Whom a challenge may be addressed to: one rule (`intake.responding_org`) for the pages, the
API and the command line.

Never the raiser's own organisation; a partnership business unit only its own partnership's,
and only at a level where that partnership's protocol says the partnership answers (the
shipped protocols have none: units oversee challenges, they do not make the decisions
challenged). The organisation answering reads the child's record, so a refusal writes nothing
and the unit never sees the challenge. The API is driven as tests/web/test_web_api.py drives it, the
command line as tests/cli/test_cli.py does (click's CliRunner, the test's own database).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from escalation import resources
from escalation.casework import db, directory, store
from escalation.casework.models import Challenge, ChronologyEntry, Deadline, Organisation
from escalation.casework.models_service import OutboxMessage
from escalation.casework.service import Service
from escalation.config import Settings
from escalation.mail.emails import EmailRenderer
from escalation.mail.links import link_source
from escalation.mail.outbox import OutboxNotifier
from escalation.rules.registry import ProtocolRegistry, load_registry
from escalation.web import store as store_web
from escalation.web.app import create_app
from escalation.web.context import Web
from tests.casework.test_bad_input_limits import RAISE, _replaced
from tests.conftest import FRONT_DOOR, SCHOOL, london
from tests.web_support import (
    BASE_URL,
    FIXTURES,
    FRONTEND,
    SCHOOL_DSL_EMAIL,
    TestClient,
    browser,
    csrf,
    sign_in_as,
)

DEVON_UNIT = "Devon SCP Business Unit"
PLYMOUTH_UNIT = "Plymouth SCP Business Unit"
PLYMOUTH_GATEWAY = "Plymouth Gateway"
MONDAY_10AM = london("2026-12-07 10:00")
TABLES = (Challenge, ChronologyEntry, Deadline, OutboxMessage)


@dataclass
class Api:
    web: Web
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def raise_as(self, organisation: str, **overrides: Any) -> Any:
        if organisation not in self.tokens:
            with self.web.sessions.begin() as session:
                org = store.find_organisation(session, organisation)
                _, token = store_web.create_api_token(
                    session, org, "case system", "Ari Admin", MONDAY_10AM
                )
            self.tokens[organisation] = token
        body = {k: v for k, v in challenge_body(**overrides).items() if v is not None}
        headers = {"Authorization": f"Bearer {self.tokens[organisation]}"}
        return self.client.post("/api/v1/challenges", json=body, headers=headers)

    def rows(self) -> dict[str, int]:
        with self.web.sessions() as session:
            return {
                table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
                for table in TABLES
            }

    def org_id(self, name: str) -> int:
        with self.web.sessions() as session:
            found = session.scalar(select(Organisation.id).where(Organisation.name == name))
        assert found is not None, name
        return found


def challenge_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "raiser_name": "Dana Lead",
        "responding_org": FRONT_DOOR,
        "child_ref": "CHILD-REF-001",
        "category": "threshold",
        "decision": "Referral judged below threshold",
        "concern": "Attendance falling; disclosures at school",
        "desired_outcome": "A social work assessment",
        "voice_of_child": "The child says they are frightened at home",
    }
    return body | overrides


def partnership_answers_at_level_4(tmp_path: Path) -> ProtocolRegistry:
    """The shipped protocols, but Devon's level 4 answered by the partnership itself."""
    folder = tmp_path / "workflows"
    shutil.copytree(resources.workflows_dir(), folder)
    devon = folder / "devon.yaml"
    head, level_4 = devon.read_text().split("  - level: 4\n")
    level_4 = level_4.replace("responder_roles: [senior_manager]", "responder_roles: [partnership]")
    devon.write_text(f"{head}  - level: 4\n{level_4}")
    registry = load_registry(folder)
    assert [lvl.responder_roles[0].value for lvl in registry.get("devon").levels][3] == (
        "partnership"
    )
    return registry


def build(engine: Engine, registry: ProtocolRegistry) -> Api:
    """The real app over the test database, as tests/web_support.py's `web_app` builds it, with
    the given protocols."""
    sessions = db.session_factory(engine)
    directory.import_csv(sessions, FIXTURES / "web_directory.csv", registry.partnerships())
    notifier = OutboxNotifier(registry, EmailRenderer(), BASE_URL, link_source(BASE_URL))
    service = Service(sessions, registry, notifier)
    settings = Settings.from_env({"ESCALATION_BASE_URL": BASE_URL})

    def clock() -> datetime:
        return MONDAY_10AM

    web = Web(settings, sessions, registry, service, FRONTEND, clock)
    return Api(web, browser(create_app(web)))


@pytest.fixture
def api(engine: Engine) -> Api:
    return build(engine, load_registry(resources.workflows_dir()))


@pytest.fixture
def partnership_level_api(engine: Engine, tmp_path: Path) -> Api:
    return build(engine, partnership_answers_at_level_4(tmp_path))


def assert_refused(api: Api, response: Any, field_name: str, problem: str) -> None:
    assert response.status_code == 422, response.text
    [found] = response.json()["problems"]
    assert found["field"] == field_name
    assert problem in found["problem"], found


# -- the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field_name", "problem"),
    [
        pytest.param(
            {"responding_org": PLYMOUTH_UNIT},
            "responding_org",
            "is the business unit of another partnership (plymouth)",
            id="another-partnerships-unit-by-name",
        ),
        pytest.param(
            {"responding_org": None, "responding_org_id": PLYMOUTH_UNIT},
            "responding_org_id",
            "is the business unit of another partnership (plymouth)",
            id="another-partnerships-unit-by-id",
        ),
        pytest.param(
            {"responding_org": DEVON_UNIT},
            "responding_org",
            "is a partnership business unit, which does not answer challenges at level 1 of devon",
            id="own-partnerships-unit-at-level-1",
        ),
        pytest.param(
            {"responding_org": DEVON_UNIT, "start_level": 4, "start_reason": "Stuck for weeks"},
            "responding_org",
            "does not answer challenges at level 4 of devon",
            id="own-partnerships-unit-at-its-top-level",
        ),
        pytest.param(
            {"responding_org": SCHOOL},
            "responding_org",
            "must differ from the raising organisation",
            id="the-raisers-own-by-name",
        ),
        pytest.param(
            {"responding_org": None, "responding_org_id": SCHOOL},
            "responding_org_id",
            "must differ from the raising organisation",
            id="the-raisers-own-by-id",
        ),
    ],
)
def test_it_refuses_a_responding_organisation_the_pages_never_offer_and_writes_nothing(
    api: Api, overrides: dict[str, Any], field_name: str, problem: str
) -> None:
    if "responding_org_id" in overrides:  # named here, as the ids differ per database
        overrides = overrides | {"responding_org_id": api.org_id(overrides["responding_org_id"])}
    before = api.rows()
    assert_refused(api, api.raise_as(SCHOOL, **overrides), field_name, problem)
    assert before == {"challenges": 0, "chronology": 0, "deadlines": 0, "outbox": 0}
    assert api.rows() == before


def test_it_still_raises_what_the_pages_offer(api: Api) -> None:
    to_front_door = api.raise_as(SCHOOL)
    assert to_front_door.status_code == 201, to_front_door.text
    assert to_front_door.json()["responding_organisation"] == FRONT_DOOR
    # A child of another partnership: its organisations answer, under its protocol.
    to_gateway = api.raise_as(SCHOOL, partnership="plymouth", responding_org=PLYMOUTH_GATEWAY)
    assert to_gateway.status_code == 201, to_gateway.text
    assert to_gateway.json()["reference"].startswith("PSCP-")
    # A unit may raise one; only answering is refused.
    by_unit = api.raise_as(DEVON_UNIT, responding_org=FRONT_DOOR)
    assert by_unit.status_code == 201, by_unit.text
    assert api.rows()["challenges"] == 3


def test_it_lets_a_partnership_answer_only_at_the_level_its_protocol_says_it_does(
    partnership_level_api: Api,
) -> None:
    api = partnership_level_api
    at_level_4 = {"start_level": 4, "start_reason": "Stuck for weeks"}
    raised = api.raise_as(SCHOOL, responding_org=DEVON_UNIT, **at_level_4)
    assert raised.status_code == 201, raised.text
    assert (raised.json()["level"], raised.json()["responding_organisation"]) == (4, DEVON_UNIT)
    before = api.rows()
    assert_refused(
        api,
        api.raise_as(SCHOOL, responding_org=DEVON_UNIT),
        "responding_org",
        "does not answer challenges at level 1 of devon",
    )
    # Another partnership's unit, even at the level the child's partnership answers itself.
    assert_refused(
        api,
        api.raise_as(SCHOOL, responding_org=PLYMOUTH_UNIT, **at_level_4),
        "responding_org",
        "is the business unit of another partnership (plymouth)",
    )
    assert api.rows() == before


def test_it_refuses_an_unknown_partnership_for_the_organisations_listing(api: Api) -> None:
    api.raise_as(SCHOOL)  # issues the school's token
    headers = {"Authorization": f"Bearer {api.tokens[SCHOOL]}"}
    listed = api.client.get("/api/v1/organisations?partnership=cornwall", headers=headers)
    assert listed.status_code == 422, listed.text
    [problem] = listed.json()["problems"]
    assert problem["field"] == "partnership"
    assert "known: devon, plymouth, torbay" in problem["problem"]
    # A partnership with a protocol but no organisations yet: an empty list, not a refusal.
    empty = api.client.get("/api/v1/organisations?partnership=torbay", headers=headers)
    assert (empty.status_code, empty.json()) == (200, [])


# -- the pages use the same rule ------------------------------------------------------------


def offered(api: Api) -> list[str]:
    sign_in_as(api.web, api.client, SCHOOL_DSL_EMAIL)
    token = csrf(api.client, "/raise")
    api.client.post("/raise/partnership", data={"partnership": "devon", "csrf_token": token})
    page = api.client.get("/raise/organisation")
    assert page.status_code == 200, page.text
    return re.findall(r"<option [^>]*>([^<]+)</option>", page.text)[1:]


def test_it_offers_on_the_pages_what_the_rule_allows(api: Api) -> None:
    assert offered(api) == [
        "Bramble Academy (Devon)",
        "Devon Front Door (Devon)",
        "Cattedown Primary School (Plymouth)",
        "Plymouth Gateway (Plymouth)",
    ]


def test_it_offers_the_partnerships_own_unit_where_it_answers(partnership_level_api: Api) -> None:
    assert offered(partnership_level_api) == [
        "Bramble Academy (Devon)",
        "Devon Front Door (Devon)",
        "Devon SCP Business Unit (Devon)",
        "Cattedown Primary School (Plymouth)",
        "Plymouth Gateway (Plymouth)",
    ]


# -- the command line ------------------------------------------------------------------------


def escalation(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    """`escalation …` in a real process on the test's database (a process of its own: an
    in-process run would leave its PostgreSQL connections to the garbage collector)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATION_")}
    env["ESCALATION_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    return subprocess.run(
        [sys.executable, "-m", "escalation", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_it_refuses_a_partnership_unit_from_the_command_line_with_one_error_line(
    api: Api, engine: Engine
) -> None:
    args = ["--now", "2026-12-07T10:00", *_replaced(RAISE, "--responding-org", PLYMOUTH_UNIT)]
    refused = escalation(engine, *args)
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert refused.stderr.strip().splitlines() == [
        "error: responding-org: is the business unit of another partnership (plymouth); name "
        "the organisation that made the decision"
    ]
    assert api.rows()["challenges"] == 0
    raised = escalation(engine, "--now", "2026-12-07T10:00", *RAISE)
    assert raised.returncode == 0, (raised.stdout, raised.stderr)
    assert raised.stdout.strip() == "DSCP-2026-00001"
