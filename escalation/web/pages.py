"""Rendering a page: the layout's needs (who is signed in, the CSRF token, the immediate-risk
numbers) added to each template's own context, and GOV.UK error summaries from InvalidInput."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from escalation.errors import InvalidInput
from escalation.rules.model import RiskContact
from escalation.web.auth import (
    CSRF_FIELD,
    Principal,
    check_csrf,
    csrf_seed,
    current_user,
    set_csrf_cookie,
)
from escalation.web.context import Web


async def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Render `template` (under templates/web/) as a full page.

    Every page gets: `user` (the Principal or None), `csrf_token` (put it in every form as
    the hidden field `csrf_token`, or use the layout's `csrf_field()` macro), `risk` (the
    immediate-risk numbers of the reader's partnership) and `errors` (an empty list unless given).
    """
    web: Web = request.app.state.web
    user = await current_user(request)
    seed, new = csrf_seed(request)
    token = await web.run(web.csrf_token, seed)
    response = _page(web, request, template, user, token, context, status)
    if new:
        set_csrf_cookie(request, response, seed)
    return response


def render_without_database(
    web: Web, request: Request, template: str, context: Mapping[str, Any], status: int
) -> HTMLResponse:
    """A page for nobody signed in that reads nothing from the database (which may be down):
    the error page of the service's last-resort handler. It has no form, so no CSRF token."""
    return _page(web, request, template, None, "", context, status)


def _page(
    web: Web,
    request: Request,
    template: str,
    user: Principal | None,
    csrf_token: str,
    context: Mapping[str, Any] | None,
    status: int,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "user": user,
        "csrf_token": csrf_token,
        "csrf_field_name": CSRF_FIELD,
        "risk": immediate_risk(web, user),
        "errors": [],
        "service_name": "Resolve a professional disagreement about a child",
    }
    values.update(context or {})
    response = web.templates.TemplateResponse(request, template, values, status_code=status)
    # Pages show details of children to the signed-in: never kept by the browser or a proxy
    # (after signing out, Back must not show them). Downloads set the same header themselves.
    response.headers["Cache-Control"] = "no-store"
    return response


def immediate_risk(web: Web, user: Principal | None) -> tuple[RiskContact, ...]:
    """The reader's partnership's numbers; before sign-in, none (the layout says "999" and
    "your local children's services front door")."""
    if user is None or user.partnership not in web.registry.partnerships():
        return ()
    return web.registry.for_partnership(user.partnership).immediate_risk


async def read_form(request: Request) -> FormData:
    """The posted form, after its CSRF token is checked (403 if it does not match)."""
    form = await request.form()
    submitted = form.get(CSRF_FIELD)
    await check_csrf(request, submitted if isinstance(submitted, str) else None)
    return form


def field(form: FormData, name: str) -> str | None:
    """A text field as typed, or None when absent or blank."""
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value


def error_list(*problems: InvalidInput) -> list[dict[str, str]]:
    """GOV.UK error summary items: each names the field and links to its input (`#<field>`)."""
    return [{"text": _sentence(p), "href": f"#{p.field}", "field": p.field} for p in problems]


def errors_by_field(errors: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """For each field's `errorMessage` parameter of the GOV.UK macros."""
    return {e["field"]: {"text": e["text"]} for e in errors}


def _sentence(problem: InvalidInput) -> str:
    label = problem.field.replace("-", " ").replace("_", " ")
    return f"{label[:1].upper()}{label[1:]}: {problem.problem}"


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
