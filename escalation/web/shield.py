"""The web service's last-resort handler: whatever fails, nothing about a child leaves it.

An exception that no route handled (a database that went away mid-request, a bug) would reach
Starlette's ServerErrorMiddleware, which re-raises it so that uvicorn logs the traceback: with a
database error that traceback carries PostgreSQL's DETAIL ("Failing row contains (…)"), the
text of a concern among it. This middleware sits inside that one and answers instead: the
service's error page (a page) or a JSON problem with no details (the API), 503 when the database
cannot be reached and 500 otherwise, and one log line with the exception's class, where it was
raised and the route's pattern (never the address itself, nor any value: see `failures`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from escalation import failures
from escalation.web.context import Web

log = logging.getLogger("escalation.web")


class Shield:
    """Pure ASGI middleware (not BaseHTTPMiddleware: that one runs the app in another task)."""

    def __init__(self, app: ASGIApp, web: Web) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            failure = failures.describe(exc, self.web.settings.database_url)
            log.error(
                "%s %s failed: %s (%s at %s)",
                scope.get("method", "?"),
                _route(scope),
                failure.message if failure.unavailable else "unexpected error",
                type(exc).__name__,
                failures.where(exc) or "?",
            )
            if not started:  # once a response has begun, all we can do is end the connection
                await self._response(scope, failure)(scope, receive, send)

    def _response(self, scope: Scope, failure: failures.Failure) -> Response:
        status = 503 if failure.unavailable else 500
        headers = {"Retry-After": "60"} if failure.unavailable else {}
        if str(scope.get("path", "")).startswith("/api/"):
            detail = "service unavailable" if failure.unavailable else "internal error"
            return JSONResponse({"detail": detail}, status_code=status, headers=headers)
        try:
            response = self._page(Request(scope), failure.unavailable, status)
        except Exception as exc:  # the page itself could not be drawn: say it plainly
            log.error("error page failed: %s at %s", type(exc).__name__, failures.where(exc))
            return PlainTextResponse(_FALLBACK, status_code=status, headers=headers)
        response.headers.update(headers)
        return response

    def _page(self, request: Request, unavailable: bool, status: int) -> Response:
        from escalation.web.pages import render_without_database

        context: dict[str, Any] = {
            "title": "Sorry, there is a problem with the service",
            "paragraphs": _UNAVAILABLE if unavailable else _UNEXPECTED,
            "action_href": "/challenges",
            "action_text": "Your challenges",
        }
        return render_without_database(self.web, request, "message.html", context, status)


def _route(scope: Scope) -> str:
    """The matched route's pattern (/challenges/{reference}), not the path: a path can carry a
    sign-in token, and nothing typed by a user belongs in the log."""
    route = scope.get("route")
    return str(getattr(route, "path", None) or "(no route)")


_UNAVAILABLE = [
    "The service cannot reach its database just now. Try again in a few minutes.",
    "What you were doing may not have been saved: check before doing it again.",
]
_UNEXPECTED = [
    "Something went wrong on our side. What you were doing may not have been saved: check "
    "before doing it again.",
    "If it keeps happening, tell your partnership's business unit.",
]
_FALLBACK = (
    "Sorry, there is a problem with the service. If a child is at immediate risk of significant "
    "harm, phone your local children's services front door, or 999 in an emergency."
)
