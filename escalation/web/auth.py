"""Who is asking: a browser session (cookie) or a partner system (API token), and CSRF.

A page or endpoint asks for a `Principal`; anyone without one gets 403 (pages show a sign-in
button, the API a JSON problem). What a principal may see is `store_challenges.visible`; what
they may do, `permissions`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import HTTPException, Request, Response
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from escalation.casework.models import Organisation
from escalation.rules.model import OrgType, Role
from escalation.web import store as store_web
from escalation.web import store_challenges
from escalation.web.context import Web

SESSION_COOKIE = "escalation_session"
CSRF_COOKIE = "escalation_csrf"
CSRF_FIELD = "csrf_token"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
PARTNERSHIP_ROLES = frozenset({Role.PARTNERSHIP.value, Role.ADMIN.value})
API_ROLE = "api"


@dataclass(frozen=True)
class Principal:
    organisation_id: int
    organisation_name: str
    organisation_type: str
    partnership: str
    email: str
    name: str
    roles: frozenset[str]
    scope_reference: str | None = None  # signed in from one challenge's email link
    via_api: bool = False

    @property
    def in_partnership_unit(self) -> bool:
        """A partnership business unit's member: sees and acts on its partnership's challenges
        (only the one, when signed in from a challenge's email link)."""
        return self.organisation_type == OrgType.PARTNERSHIP.value and bool(
            self.roles & PARTNERSHIP_ROLES
        )

    @property
    def is_partnership(self) -> bool:
        """The partnership's view: every challenge of its partnership, and the dashboard. Not
        for a session begun from one challenge's email link."""
        return self.in_partnership_unit and self.scope_reference is None

    @property
    def is_admin(self) -> bool:
        return self.is_partnership and Role.ADMIN.value in self.roles

    @property
    def who(self) -> str:
        """How the chronology names them."""
        return f"{self.name} ({self.organisation_name})"[:200]

    def visible(self) -> ColumnElement[bool]:
        """The challenges they may see, as a WHERE clause."""
        partnership = self.partnership if self.in_partnership_unit else None
        return store_challenges.visible(self.organisation_id, partnership, self.scope_reference)


def principal_for(
    session: Session,
    organisation: Organisation,
    email: str,
    name: str,
    scope_reference: str | None = None,
) -> Principal:
    return Principal(
        organisation_id=organisation.id,
        organisation_name=organisation.name,
        organisation_type=organisation.type,
        partnership=organisation.partnership,
        email=email,
        name=name,
        roles=frozenset(store_web.roles_at(session, email, organisation.id)),
        scope_reference=scope_reference,
    )


def load_from_cookie(web: Web, token: str | None) -> Principal | None:
    if not token:
        return None
    with web.sessions.begin() as session:
        found = store_web.find_session(session, token, web.now())
        if found is None:
            return None
        organisation = session.get(Organisation, found.organisation_id)
        assert organisation is not None
        principal = principal_for(
            session, organisation, found.email, found.name, found.scope_reference
        )
        if not principal.roles:  # no longer in the directory there: the session ends now
            found.ended_at = web.now()
            return None
        return principal


def load_from_api_token(web: Web, header: str | None) -> Principal | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    with web.sessions.begin() as session:
        found = store_web.find_api_token(session, header[7:].strip())
        if found is None:
            return None
        org = found.organisation
        return Principal(
            organisation_id=org.id,
            organisation_name=org.name,
            organisation_type=org.type,
            partnership=org.partnership,
            email="",
            name=f"API: {found.label}",
            roles=frozenset(
                {API_ROLE} | ({Role.PARTNERSHIP.value} if org.type == "partnership" else set())
            ),
            via_api=True,
        )


async def current_user(request: Request) -> Principal | None:
    """The signed-in browser's principal, or None; cached on the request."""
    try:
        known: Principal | None = request.state.principal
        return known
    except AttributeError:
        pass
    web: Web = request.app.state.web
    principal = await web.run(load_from_cookie, web, request.cookies.get(SESSION_COOKIE))
    request.state.principal = principal
    return principal


async def require_user(request: Request) -> Principal:
    principal = await current_user(request)
    if principal is None:
        raise HTTPException(status_code=403, detail="sign-in")
    return principal


async def require_api_client(request: Request) -> Principal:
    web: Web = request.app.state.web
    principal = await web.run(load_from_api_token, web, request.headers.get("authorization"))
    if principal is None:
        raise HTTPException(
            status_code=403,
            detail="send a valid API token: Authorization: Bearer esc_… (ask your partnership "
            "admin for one)",
        )
    return principal


# -- cookies ---------------------------------------------------------------------------------


def secure_cookies(request: Request) -> bool:
    """Secure everywhere but on the developer's own machine (browsers refuse a Secure cookie
    over plain http, and localhost is where that happens) — and always when the service's
    public address is https, whatever Host header a reverse proxy passes on."""
    web: Web = request.app.state.web
    if web.settings.base_url.startswith("https://"):
        return True
    return (request.url.hostname or "") not in LOCAL_HOSTS


def set_session_cookie(request: Request, response: Response, token: str, expires: datetime) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        expires=expires.astimezone(UTC),  # an HTTP date is GMT: Starlette refuses any other zone
        httponly=True,
        secure=secure_cookies(request),
        samesite="lax",  # the email link's sign-in is a top-level navigation from another site
    )


def csrf_seed(request: Request) -> tuple[str, bool]:
    """The browser's CSRF seed and whether it is new (and must be set as a cookie)."""
    seed = request.cookies.get(CSRF_COOKIE)
    if seed and 16 <= len(seed) <= 64:
        return seed, False
    return secrets.token_urlsafe(24), True


def set_csrf_cookie(request: Request, response: Response, seed: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, seed, httponly=True, secure=secure_cookies(request), samesite="strict"
    )


async def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a form post whose token does not match this browser's CSRF cookie."""
    web: Web = request.app.state.web
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or not submitted:
        raise HTTPException(status_code=403, detail="csrf")

    if not secrets.compare_digest(await web.run(web.csrf_token, seed), submitted):
        raise HTTPException(status_code=403, detail="csrf")
