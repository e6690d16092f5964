"""Fuzzing the JSON API with schemathesis: whatever a client sends, never a server error.

The real app runs under uvicorn on a free port of 127.0.0.1, over a SQLite database made by the
migrations, with a Devon school's token and a few challenges in different states. Schemathesis
reads the OpenAPI document the app serves and, for every operation, sends generated requests
(valid and invalid) with the token; each answer must not be a 5xx, must use a documented status
code and content type, and must match the documented response schema. Known references and
organisation names are drawn from dictionaries part of the time, so events reach real challenges
and raises reach the service, not only the 404s and 422s of random strings. Hypothesis runs
derandomized, so every run sends the same requests.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from escalation.casework import db, store
from escalation.casework.intake import Resolution
from escalation.web import store as store_web
from escalation.web.context import Web
from tests.conftest import FRONT_DOOR, SCHOOL, raise_request
from tests.web_support import USER_EVENTS, web_app

EXAMPLES_PER_OPERATION = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    token: str
    unit_token: str  # the partnership business unit's: only it may resolve through the API
    references: list[str]
    organisation_ids: list[int]
    dates: list[str]  # for extensions: some are working days after the seeded due dates


@pytest.fixture(scope="module")
def live_api(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    path = tmp_path_factory.mktemp("fuzz") / "escalation.db"
    shutil.copyfile(sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))  # a free port, held from here until the server stops
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    web, app = web_app(engine, base_url=base_url)
    token, unit_token, references = _seed(web)
    with web.sessions() as session:
        organisation_ids = [org.id for org in store.organisations(session)]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    _wait_until_started(server, thread)
    try:
        today = web.now().date()
        dates = [(today + timedelta(days=days)).isoformat() for days in range(20, 30)]
        yield LiveApi(base_url, token, unit_token, references, organisation_ids, dates)
    finally:
        server.should_exit = True
        thread.join(timeout=10)  # a daemon thread: one that does not stop cannot hang the run
        listener.close()
        engine.dispose()


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn (the fuzzed API) did not start within 30 s"
        time.sleep(0.01)


def _seed(web: Web) -> tuple[str, str, list[str]]:
    """The school's token, the partnership's, and challenges the school raised (awaiting a
    response; responded) and one it answers, so every event has a challenge on which the
    school's side (or, to resolve, the partnership) may record it."""
    now = web.now()
    with web.sessions.begin() as session:
        school = store.find_organisation(session, SCHOOL)
        _, token = store_web.create_api_token(session, school, "fuzz", "Ari Admin", now)
        unit = store.find_organisation(session, "Devon SCP Business Unit")
        _, unit_token = store_web.create_api_token(session, unit, "fuzz", "Ari Admin", now)
    service = web.service
    awaiting = service.raise_challenge(raise_request(decision_date=None), now)
    responded = service.raise_challenge(raise_request(decision_date=None), now)
    service.respond(responded, "Alex Social Worker", "upheld", "Threshold not met", [], now)
    answered = service.raise_challenge(
        raise_request(raising_org="Bramble Academy", responding_org=SCHOOL, decision_date=None),
        now,
    )
    resolved = service.raise_challenge(raise_request(decision_date=None), now)
    service.resolve(
        resolved, "Jo Service Manager", Resolution("decision_changed", "Assessed", "Seen"), now
    )
    return token, unit_token, [awaiting, responded, answered, resolved]


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "auth": {"openapi": {"apiToken": {"bearer": live_api.token}}},
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
            "dictionaries": {
                "references": {"values": live_api.references},
                "organisations": {"values": [FRONT_DOOR, "Bramble Academy", "Plymouth Gateway"]},
                "partnerships": {"values": ["devon", "plymouth"]},
                "dates": {"values": live_api.dates},
                "organisation_ids": {"values": live_api.organisation_ids},
            },
            "parameters": {
                "path.reference": {"dictionary": "references", "probability": 0.8},
                "body.responding_org": {"dictionary": "organisations", "probability": 0.7},
                "body.partnership": {"dictionary": "partnerships", "probability": 0.7},
                "body.until": {"dictionary": "dates", "probability": 0.7},
                "body.responding_org_id": {"dictionary": "organisation_ids", "probability": 0.7},
            },
        }
    )
    return schemathesis.openapi.from_url(f"{live_api.base_url}/api/openapi.json", config=config)


# Every operation of the document; test_web_api checks the document lists exactly these.
OPERATIONS = [
    "list_challenges",
    "raise_challenge",
    "get_challenge",
    "get_chronology",
    "list_organisations",
    *USER_EVENTS,
]
# Answers that stop a request before it reaches the service.
GATE = frozenset({400, 403, 422})


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_it_never_answers_a_fuzzed_request_with_a_server_error(
    api_schema: Any, live_api: LiveApi, operation_id: str
) -> None:
    operation = api_schema.find_operation_by_id(operation_id)
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    seen: Counter[int] = Counter()
    token = live_api.unit_token if operation_id == "resolve" else live_api.token

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            base_url=live_api.base_url,
            headers={"Authorization": f"Bearer {token}"},
            checks=CHECKS,
            timeout=30,
        )
        seen[response.status_code] += 1

    fuzz()
    assert set(seen) - GATE, f"every request stopped at authentication or validation: {seen}"
