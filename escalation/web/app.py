"""The ASGI app: pages, the JSON API, static files, and error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from escalation import resources
from escalation.web.context import Web
from escalation.web.shield import Shield

API_DESCRIPTION = """For partners' case-management systems: raise and follow challenges, and
record events, exactly as the web pages do. Authenticate with your organisation's API token
(`Authorization: Bearer esc_…`), issued by your partnership's admin with
`escalation api-tokens create`. An organisation sees the challenges it raised or was asked to
answer; a partnership business unit's token sees its partnership's.

Never put a child's name, date of birth or address in any field: the child is identified by
your own system's reference, initials and year of birth only."""


def create_app(web: Web) -> FastAPI:
    from escalation.web.api import routes as api
    from escalation.web.dashboard import pages as pages_dashboard
    from escalation.web.events import challenges as pages_challenges
    from escalation.web.raising import pages as pages_raise
    from escalation.web.signin import pages as pages_auth

    app = FastAPI(
        title="Case Resolution Protocol escalation API",
        version="1",
        description=API_DESCRIPTION,
        openapi_url="/api/openapi.json",
        # Swagger UI loads its scripts from a CDN: not on a service about children, and not on
        # a closed network. /api is our own page, drawn from the same OpenAPI document.
        docs_url=None,
        redoc_url=None,
    )
    app.state.web = web
    frontend = web.frontend_dir / "govuk-frontend" / "dist" / "govuk"
    app.mount("/assets", StaticFiles(directory=frontend / "assets"), name="assets")
    app.mount("/static", _Static([frontend, resources.templates_dir() / "web" / "static"]))
    app.include_router(pages_auth.router)
    app.include_router(pages_raise.router)
    app.include_router(pages_challenges.router)
    app.include_router(pages_dashboard.router)
    app.include_router(api.router)
    # Starlette's own exception, not only FastAPI's subclass: an address with no route (404) or
    # the wrong method (405) must get the service's page too, not bare JSON.
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_middleware(Shield, web=web)  # everything unexpected, answered without details
    return app


class _Static(StaticFiles):
    """Static files from the first of several folders that has them (only the two files of
    govuk-frontend's dist the pages load, and our own)."""

    FRONTEND_FILES = frozenset({"govuk-frontend.min.css", "govuk-frontend.min.js"})

    def __init__(self, folders: list[Path]) -> None:
        super().__init__(directory=folders[1])
        self.frontend = folders[0]

    def lookup_path(self, path: str) -> tuple[str, object]:  # type: ignore[override]
        if path in self.FRONTEND_FILES:
            full = self.frontend / path
            return str(full), full.stat()
        return super().lookup_path(path)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )
    from escalation.web.pages import render

    title, paragraphs, href, text = _error_page(request, exc)
    context = {
        "title": title,
        "paragraphs": paragraphs,
        "action_href": href,
        "action_text": text,
    }
    return await render(request, "message.html", context, status=exc.status_code)


def _error_page(
    request: Request, exc: StarletteHTTPException
) -> tuple[str, list[str], str | None, str | None]:
    if exc.status_code == 403 and exc.detail == "sign-in":
        target = request.url.path
        return (
            "Sign in to see this page",
            ["You need to sign in with your work email address to use this service."],
            f"/sign-in?next={target}",
            "Sign in",
        )
    if exc.status_code == 403 and exc.detail == "csrf":
        return (
            "Your form could not be sent",
            [
                "The page had been open too long, or it came from another site. Nothing was "
                "saved. Go back, reload the page and try again."
            ],
            None,
            None,
        )
    if exc.status_code == 403:
        return ("You cannot do that", [str(exc.detail)], "/challenges", "Back to your challenges")
    if exc.status_code == 404:
        return (
            "Page not found",
            [
                "If you typed the web address, check it is correct. If you followed a link to a "
                "challenge, it may belong to an organisation you are not signed in for."
            ],
            "/challenges",
            "Your challenges",
        )
    if exc.status_code == 405:
        return ("Page not found", ["That page cannot be opened that way."], "/", "Start again")
    return ("Sorry, there is a problem", [str(exc.detail)], "/", "Start again")


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    if not request.url.path.startswith("/api/"):  # a page: never raw JSON in a browser
        return await _http_error(request, HTTPException(404, "not found"))
    problems = [
        {"field": ".".join(str(p) for p in error["loc"][1:]) or "body", "problem": error["msg"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": "invalid input", "problems": problems}, status_code=422)
