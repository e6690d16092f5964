"""Access: every route and API endpoint, tried as nobody, as another organisation of the same
partnership, as organisations of another partnership, and as someone signed in from another
challenge's email link.

The routes are read from the app itself, so a route added later is tried too: a path parameter
this test does not know fails it, and a route that answers nobody without a 403 must be on the
`PUBLIC` list below (a deliberate, reviewed decision).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from escalation.casework import store
from escalation.rules.states import Event
from escalation.web import store as store_web
from escalation.web.context import Web
from tests.conftest import PRIVACY_MARKERS, raise_request
from tests.web_support import (
    OTHER_SCHOOL_EMAIL,
    PLYMOUTH_PARTNERSHIP_EMAIL,
    PLYMOUTH_SCHOOL_EMAIL,
    SOCIAL_WORKER_EMAIL,
    browser,
    csrf,
    minimal_event_body,
    sign_in_as,
    web_app,
)

MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

# Routes anyone may open without signing in; everything else must refuse nobody.
PUBLIC = {
    ("GET", "/"),
    ("GET", "/accessibility"),
    ("GET", "/api"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),  # says "check your email" whoever asks
    ("GET", "/sign-in/{token}"),  # a valid link's confirmation page; forged ones are refused
    ("POST", "/sign-in/{token}"),
    ("GET", "/l/{token}"),
    ("POST", "/l/{token}"),
    ("POST", "/sign-out"),  # signing out when not signed in changes nothing
}
FORGED_TOKEN = "eyJlIjoiZHNsQGFzaGNvbWJlLmV4YW1wbGUub3JnIn0.forged-signature"


@pytest.fixture
def site(engine: Engine) -> Iterator[tuple[Web, FastAPI, str]]:
    web, app = web_app(engine, clock=lambda: MONDAY)
    reference = web.service.raise_challenge(raise_request(**PRIVACY_MARKERS), MONDAY)
    yield web, app, reference


def routes(app: FastAPI) -> list[tuple[str, str]]:
    found = sorted(set(_walk(app.routes, "")))
    assert len(found) > 20, "the app's routes were not found (has FastAPI's routing changed?)"
    return found


def _walk(items: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through included routers (FastAPI ≥ 0.120 keeps them as
    nested objects rather than copying their routes into the app's list)."""
    for route in items:
        if isinstance(route, APIRoute):
            for method in route.methods - {"HEAD"}:
                yield method, prefix + route.path
        elif hasattr(route, "original_router"):
            inner = prefix + getattr(route.include_context, "prefix", "")
            yield from _walk(route.original_router.routes, inner)


PARAMETERS = {
    "suffix": ["csv", "txt"],
    "name": [e.value for e in Event] + ["nonsense"],
    "event": [e.value for e in Event] + ["nonsense"],
    "slug": ["partnership", "nonsense"],
    "token": [FORGED_TOKEN],
}


def urls(path: str, reference: str) -> list[str]:
    """Every concrete URL for a route path: the challenge's reference, each event name…"""
    found = [path.replace("{reference}", reference)]
    for name in re.findall(r"{(\w+)}", found[0]):
        assert name in PARAMETERS, f"the access test does not know the path parameter {{{name}}}"
        found = [u.replace(f"{{{name}}}", value) for u in found for value in PARAMETERS[name]]
    return found


def call(client, method: str, url: str):  # type: ignore[no-untyped-def]
    if method == "GET":
        return client.get(url)
    if url.startswith("/api/"):
        return client.request(method, url, json={})
    return client.request(method, url, data={"csrf_token": csrf(client)})


def outsiders(web: Web, app: FastAPI, reference: str):  # type: ignore[no-untyped-def]
    """(who, a browser signed in as them) for everyone who must not see the challenge."""
    other = web.service.raise_challenge(raise_request(child_ref="OTHER-1"), MONDAY)
    people = {
        "another devon school": OTHER_SCHOOL_EMAIL,
        "a plymouth school": PLYMOUTH_SCHOOL_EMAIL,
        "the plymouth partnership": PLYMOUTH_PARTNERSHIP_EMAIL,
    }
    for who, email in people.items():
        client = browser(app)
        sign_in_as(web, client, email)
        yield who, client
    scoped = browser(app)  # the responder, but signed in from the OTHER challenge's email link
    sign_in_as(web, scoped, SOCIAL_WORKER_EMAIL, scope_reference=other)
    yield "the responder, from another challenge's link", scoped


def test_it_refuses_nobody_everywhere_but_the_public_pages(
    site: tuple[Web, FastAPI, str],
) -> None:
    _, app, reference = site
    nobody = browser(app)
    tried = 0
    for method, path in routes(app):
        for url in urls(path, reference):
            response = call(nobody, method, url)
            tried += 1
            if (method, path) in PUBLIC:
                assert reference not in response.text, url
                continue
            assert response.status_code in (403, 404), f"{method} {url}: {response.status_code}"
            # The sign-in button returns them to the address they asked for, and nothing more.
            assert reference not in re.sub(r'next=[^"]*', "", response.text)
    assert tried > 40


def test_it_shows_no_outsider_the_challenge_on_any_route(site: tuple[Web, FastAPI, str]) -> None:
    web, app, reference = site
    for who, client in outsiders(web, app, reference):
        for method, path in routes(app):
            if (method, path) in PUBLIC or path.startswith("/api/"):
                continue  # the API is tried with tokens, below
            for url in urls(path, reference):
                response = call(client, method, url)
                text = response.text
                if "{reference}" not in path:  # lists, raising, the dashboard: their own only
                    assert response.status_code < 500, f"{who}: {method} {url}"
                else:
                    assert response.status_code in (403, 404), (
                        f"{who}: {method} {url}: {response.status_code}"
                    )
                assert reference not in text, f"{who} saw {reference} at {method} {url}"
                for marker in PRIVACY_MARKERS.values():
                    assert marker not in text, f"{who} saw {marker!r} at {method} {url}"


def test_it_lets_the_parties_and_their_partnership_see_it(site: tuple[Web, FastAPI, str]) -> None:
    """The other side of the access tests: the same page opens for those who may see it."""
    web, app, reference = site
    for email in (
        "dsl@ashcombe.example.org",
        "frontdoor.sw@devon.example.org",
        "business.unit@dscp.example.org",
    ):
        client = browser(app)
        sign_in_as(web, client, email)
        page = client.get(f"/challenges/{reference}")
        assert page.status_code == 200, email
        assert reference in page.text
    with web.sessions() as session:
        assert store.load_challenge(session, reference, lock=False).partnership == "devon"


def test_it_answers_a_mistyped_page_address_with_a_page_not_json(
    site: tuple[Web, FastAPI, str],
) -> None:
    web, app, _ = site
    client = browser(app)
    sign_in_as(web, client, "business.unit@dscp.example.org")
    page = client.get("/dashboard/open-challenges", params={"page": "x" * 5000})
    assert page.status_code in (400, 404)
    assert page.headers["content-type"].startswith("text/html")


def test_it_refuses_every_form_posted_without_its_csrf_token(
    site: tuple[Web, FastAPI, str],
) -> None:
    """Signed in as the raiser (who may post most forms), every page POST without the token is
    403 and changes nothing."""
    web, app, reference = site
    client = browser(app)
    sign_in_as(web, client, "dsl@ashcombe.example.org")
    posts = [path for method, path in routes(app) if method == "POST" and "/api/" not in path]
    assert len(posts) >= 7
    for path in posts:
        for url in urls(path, reference):
            for form in ({}, {"csrf_token": "f" * 64}):
                response = client.post(url, data=form)
                assert response.status_code in (403, 404), f"POST {url} {form}"
    with web.sessions() as session:
        assert len(store.chronology(session, store.load_challenge(session, reference).id)) == 1


def api_tokens(web: Web) -> dict[str, str]:
    """Tokens of outsiders to the challenge, and one of its raiser that has been revoked."""
    tokens = {}
    with web.sessions.begin() as session:
        for name in (
            "Bramble Academy",
            "Cattedown Primary School",
            "Plymouth SCP Business Unit",
            "Ashcombe Primary School",
        ):
            org = store.find_organisation(session, name)
            row, tokens[name] = store_web.create_api_token(session, org, "access", "test", MONDAY)
            if name == "Ashcombe Primary School":
                row.revoked_at = MONDAY
    return {
        "another devon school": tokens["Bramble Academy"],
        "a plymouth school": tokens["Cattedown Primary School"],
        "the plymouth partnership": tokens["Plymouth SCP Business Unit"],
        "the raiser's revoked token": tokens["Ashcombe Primary School"],
        "a made-up token": "esc_" + "x" * 43,
    }


def test_it_shows_no_api_client_but_the_parties_the_challenge(
    site: tuple[Web, FastAPI, str],
) -> None:
    web, app, reference = site
    client = browser(app)
    endpoints = [(m, p) for m, p in routes(app) if p.startswith("/api/v1/")]
    assert len(endpoints) >= 15
    for who, token in api_tokens(web).items():
        headers = {"Authorization": f"Bearer {token}"}
        for method, path in endpoints:
            url = path.replace("{reference}", reference)
            event = path.rsplit("/", 1)[1]
            body = minimal_event_body(event) | {"who": "Jo Bloggs"} if "/events/" in path else {}
            response = client.request(
                method, url, headers=headers, json=body if method == "POST" else None
            )
            if "{reference}" in path:
                assert response.status_code in (403, 404), f"{who}: {method} {url}: {response.text}"
            else:  # lists and raising: their own only
                assert response.status_code < 500 and response.status_code != 201
            assert reference not in response.text, f"{who} saw it at {method} {url}"
            for marker in PRIVACY_MARKERS.values():
                assert marker not in response.text, f"{who} saw {marker!r} at {method} {url}"
    with web.sessions() as session:  # none of those requests recorded anything
        assert len(store.chronology(session, store.load_challenge(session, reference).id)) == 1


def test_it_answers_digits_int_refuses_with_the_field_named(
    site: tuple[Web, FastAPI, str],
) -> None:
    """str.isdigit() takes "²" and int() refuses it: a 400 naming the field, never a 500."""
    web, app, reference = site
    client = browser(app)
    sign_in_as(web, client, "dsl@ashcombe.example.org")
    token = csrf(client, "/raise")
    posts = {
        "/raise/child": {"child-ref": "C-1", "child-birth-year": "²", "siblings-affected": "¹"},
        f"/challenges/{reference}/escalate": {"reason": "Stuck", "to-level": "²"},
    }
    for url, form in posts.items():
        page = client.post(url, data={**form, "csrf_token": token})
        assert page.status_code == 400, (url, page.status_code)
        assert "govuk-error-summary" in page.text
    huge = client.post(
        f"/challenges/{reference}/escalate",
        data={"reason": "Stuck", "to-level": "9" * 5000, "csrf_token": token},
    )
    assert huge.status_code == 400
