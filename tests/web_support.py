"""Builders for the web tests: an app over the test database, and signed-in browsers.

`web_app(engine)` builds the real app (real service, outbox notifier with signed links) on the
test's database with the web directory loaded; `browser(app)` is a TestClient on
http://localhost (cookies are Secure elsewhere); `sign_in_as(web, client, email)` starts a
session the way a used sign-in link does, without the email round trip (the journey and the
sign-in tests do the round trip); `csrf(client)` is the form token for that browser.

Import TestClient from here, not from fastapi.testclient: starlette warns about httpx there,
and pytest turns warnings into errors at collection.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from escalation import resources
from escalation.casework import db, directory, pins, store_pins
from escalation.casework.models import Contact
from escalation.casework.models_service import OutboxMessage
from escalation.casework.recording import real_clock
from escalation.casework.service import Service
from escalation.config import Settings
from escalation.mail.emails import EmailRenderer
from escalation.mail.links import link_source
from escalation.mail.outbox import OutboxNotifier
from escalation.rules.registry import ProtocolRegistry, load_registry
from escalation.web import store as store_web
from escalation.web.app import create_app
from escalation.web.auth import SESSION_COOKIE
from escalation.web.context import Web

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2, imported once here
    from fastapi.testclient import TestClient

FIXTURES = Path(__file__).parent / "fixtures"
FRONTEND = resources.package_root() / "node_modules"
BASE_URL = "http://localhost"

# Web personas, by email (tests/fixtures/web_directory.csv)
SCHOOL_DSL_EMAIL = "dsl@ashcombe.example.org"  # Ashcombe Primary School (devon) dsl + line_manager
HEAD_EMAIL = "head@ashcombe.example.org"  # Ashcombe senior_manager
SOCIAL_WORKER_EMAIL = "frontdoor.sw@devon.example.org"  # Devon Front Door practitioner
SERVICE_MANAGER_EMAIL = "frontdoor.sm@devon.example.org"  # Devon Front Door senior_manager
DEVON_PARTNERSHIP_EMAIL = "business.unit@dscp.example.org"  # Devon SCP Business Unit
DEVON_ADMIN_EMAIL = "admin@dscp.example.org"  # Devon SCP Business Unit admin
OTHER_SCHOOL_EMAIL = "dsl@bramble.example.org"  # Bramble Academy: devon, not a party
PLYMOUTH_SCHOOL_EMAIL = "dsl@cattedown.example.org"  # Cattedown Primary School: plymouth
PLYMOUTH_PARTNERSHIP_EMAIL = "business.unit@pscp.example.org"  # Plymouth SCP Business Unit

# Every event a person records (the sweep's own, lapse and request_outcome, have no form), in
# the protocol's order: each has a page form and an API endpoint.
USER_EVENTS = (
    "acknowledge",
    "respond",
    "accept",
    "escalate",
    "pause",
    "resume",
    "extend",
    "withdraw",
    "resolve",
    "outcome",
    "reopen",
    "close",
)


def web_app(
    engine: Engine,
    clock: Callable[[], datetime] = real_clock,
    base_url: str = BASE_URL,
    registry: ProtocolRegistry | None = None,
) -> tuple[Web, FastAPI]:
    settings = Settings.from_env({"ESCALATION_BASE_URL": base_url})
    sessions = db.session_factory(engine)
    if registry is None:
        registry = load_registry(resources.workflows_dir())
    directory.import_csv(sessions, FIXTURES / "web_directory.csv", registry.partnerships())
    links = link_source(base_url)
    notifier = OutboxNotifier(registry, EmailRenderer(), base_url, links)
    service = Service(sessions, registry, notifier)
    web = Web(settings, sessions, registry, service, FRONTEND, clock)
    return web, create_app(web)


def edited_in_place(engine: Engine, started_after_the_pin: bool = True) -> ProtocolRegistry:
    """The shipped protocols as a web process holds them when devon.yaml was edited in place
    (level 2's response due in 10 working days instead of 2) after devon@1 was pinned, as
    shipped, in `engine`'s database.

    started_after_the_pin: the process started after the pin, as every start after the edit
    does: it runs devon@1 from the pinned copy, knows the file has drifted and refuses a raise
    on it before writing anything (`rules.pinning.refuse_drifted`). Otherwise it read the
    edited file before any challenge had pinned the version: it knows of no drift, and the
    raise is refused when its copy is found to differ from the one pinned meanwhile."""
    registry = load_registry(resources.workflows_dir())
    devon = registry.get("devon", 1)
    sessions = db.session_factory(engine)
    with sessions.begin() as session:
        store_pins.pin(session, devon, real_clock())
    old = "response_due: 2 working days"
    assert old in devon.content
    content = devon.content.replace(old, "response_due: 10 working days")
    edited = dataclasses.replace(devon, content=content, content_hash="e" * 64)
    others = [p for p in registry.all() if p.key != devon.key]
    files = ProtocolRegistry([edited, *others], registry.closures)
    if not started_after_the_pin:
        return files
    running = pins.pinned_registry(sessions, files, real_clock())
    assert running.drifts[("devon", 1)].edited
    return running


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, base_url=BASE_URL, follow_redirects=False)


def sign_in_as(
    web: Web, client: TestClient, email: str, scope_reference: str | None = None
) -> None:
    """Sign a TestClient in as the directory contact with `email` (see `session_token`)."""
    token = session_token(web, email, scope_reference)
    client.cookies.set(SESSION_COOKIE, token, domain="localhost.local")


def session_token(web: Web, email: str, scope_reference: str | None = None) -> str:
    """A session cookie's token for the directory contact with `email` (their first
    organisation), started the way a used link starts one, without the email round trip;
    `scope_reference`: as a used email link about that one challenge does."""
    now = web.now()
    with web.sessions.begin() as session:
        contact = _contact(session, email)
        return store_web.start_session(
            session,
            contact.organisation,
            email,
            contact.name,
            scope_reference,
            now,
            now + timedelta(hours=8),
        )


def _contact(session: Session, email: str) -> Contact:
    found = session.scalars(select(Contact).where(Contact.email == email)).first()
    assert found is not None, f"{email} is not in web_directory.csv"
    return found


def csrf(client: TestClient, path: str = "/sign-in") -> str:
    """The CSRF token of this browser (GETting a page sets its cookie the first time)."""
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, f"no CSRF field on {path}"
    return found.group(1)


def outbox_links(web: Web, email: str) -> list[str]:
    """The links in the emails queued for `email`, oldest first."""
    with web.sessions() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient_email == email)
            .order_by(OutboxMessage.id)
        ).all()
        return [link for row in rows for link in re.findall(r"https?://\S+", row.text_body)]


API_RESOLUTION = {
    "outcome": "decision_changed",
    "statement": "An assessment will start",
    "life_improvement": "A social worker will see the child at home this week",
}


def minimal_event_body(event: str) -> dict[str, Any]:
    """A body each API event's model accepts, so the answer is about the challenge."""
    bodies: dict[str, dict[str, Any]] = {
        "respond": {"kind": "upheld", "summary": "No"},
        "accept": API_RESOLUTION,
        "resolve": API_RESOLUTION,
        "escalate": {"reason": "Stuck"},
        "pause": {"agreed_by": "Dana", "reason": "Meeting"},
        "extend": {"agreed_by": "Dana", "until": "2026-12-18", "reason": "Records"},
        "outcome": {"improved": True},
    }
    return bodies.get(event, {} if event in {"acknowledge", "resume"} else {"reason": "Because"})
