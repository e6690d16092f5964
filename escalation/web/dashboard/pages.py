"""The partnership dashboard's routes: the partnership report (PROTOCOL.md §7) for the reader's
own partnership, as pages, and who may see them. What the pages show is built in
`dashboard.views`; the period asked for is read by `dashboard.period`.

- GET /dashboard: for a period (`?period=2026-27` or `2026-27-Q3`; by default the financial year
  today falls in, so far), the headline figures, the open challenges now, and every section of
  the report as GOV.UK tables, each charted table drawn (`reports.charts`) and followed by its
  figures. `?publishable=yes` withholds counts from 1 to 4, as `--publishable` does.
- GET /dashboard/export.csv and /dashboard/report.html: the same report as
  `escalation report --format csv` and `--format html` write it, as a download.
- GET /dashboard/open-challenges: every open challenge, a page at a time.

Only the partnership's business unit may see any of it, and only for its own partnership. The
report is built once per request, off the event loop. Nothing here reads a child's details: the
report holds none, and open challenges are listed by reference and organisations only.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from escalation.errors import InvalidInput
from escalation.reports.cells import period_words
from escalation.reports.render import Format
from escalation.web.auth import Principal, require_user
from escalation.web.context import Web
from escalation.web.dashboard.period import Choice, choose
from escalation.web.dashboard.views import build_dashboard, chooser_alone, open_page, report_for
from escalation.web.pages import error_list, errors_by_field, render

router = APIRouter(include_in_schema=False)

FORBIDDEN = "Only the partnership's business unit can see the partnership dashboard."
TITLE = "Partnership dashboard"
OPEN_PAGE_SIZE = 100
_PAGE = re.compile(r"[0-9]{1,6}")  # ASCII digits: str.isdigit takes "²", which int() refuses
_MEDIA = {"csv": "text/csv", "html": "text/html"}


# --- Who may see it ----------------------------------------------------------------------------


async def partnership_reader(request: Request, partnership: str | None) -> Principal:
    """The signed-in partnership business unit; 403 for anyone else, 404 for another
    partnership's dashboard (there is no choosing one)."""
    principal = await require_user(request)
    if not principal.is_partnership:
        raise HTTPException(status_code=403, detail=FORBIDDEN)
    if partnership is not None and partnership.strip().lower() != principal.partnership:
        raise HTTPException(status_code=404, detail="not found")
    if principal.partnership not in _web(request).registry.partnerships():
        raise HTTPException(status_code=404, detail="no protocol for this partnership")
    return principal


# --- The report's pages: the dashboard and its downloads ----------------------------------------


@dataclass(frozen=True)
class ReportQuery:
    """The query string every report page takes (FastAPI reads each field from it)."""

    period: str | None = None
    publishable: str | None = None
    partnership: str | None = None


Asked = Annotated[ReportQuery, Depends()]
Respond = Callable[[Request, Principal, Choice, datetime], Awaitable[Response]]


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, asked: Asked) -> Response:
    return await _for_period(request, asked, _dashboard_page)


@router.get("/dashboard/export.csv")
async def export_csv(request: Request, asked: Asked) -> Response:
    """The report as `escalation report --format csv` writes it."""
    return await _for_period(request, asked, partial(_download, fmt="csv"))


@router.get("/dashboard/report.html")
async def export_html(request: Request, asked: Asked) -> Response:
    """The self-contained report page, for printing or a board paper."""
    return await _for_period(request, asked, partial(_download, fmt="html"))


async def _for_period(request: Request, asked: ReportQuery, respond: Respond) -> Response:
    """`respond` for the reader and the period asked for; for a period that is not one, the
    dashboard's chooser and the error (400) instead, whichever page was asked for."""
    principal = await partnership_reader(request, asked.partnership)
    now = _web(request).now()
    try:
        choice = choose(asked.period, asked.publishable, now)
    except InvalidInput as exc:
        return _private(await _period_refused(request, principal, exc, now))
    return _private(await respond(request, principal, choice, now))


async def _dashboard_page(
    request: Request, principal: Principal, choice: Choice, now: datetime
) -> Response:
    web = _web(request)
    view = await web.run(build_dashboard, web, principal.partnership, choice, now)
    return await _index(
        request,
        view.report.partnership_name,
        view.options,
        view=view,
        choice=choice,
        period_words=period_words(choice.period),
        open_more=view.open_total > len(view.open_lines),
    )


async def _period_refused(
    request: Request, principal: Principal, problem: InvalidInput, now: datetime
) -> Response:
    """The dashboard with only its period chooser and the error (400): no report is built for
    a period that is not one."""
    web = _web(request)
    options = await web.run(chooser_alone, web, principal.partnership, now)
    errors = error_list(problem)
    name = web.registry.for_partnership(principal.partnership).partnership_name
    return await _index(
        request,
        name,
        options,
        400,
        view=None,
        choice=None,
        errors=errors,
        field_errors=errors_by_field(errors),
    )


async def _index(
    request: Request,
    partnership_name: str,
    options: list[dict[str, Any]],
    status: int = 200,
    **more: Any,
) -> Response:
    """dashboard/index.html, with what the dashboard and its refusal both show."""
    context = {"title": TITLE, "nav": "dashboard", "partnership_name": partnership_name, **more}
    context["options"] = options
    return await render(request, "dashboard/index.html", context, status=status)


async def _download(
    request: Request, principal: Principal, choice: Choice, now: datetime, fmt: Format
) -> Response:
    web = _web(request)
    text = await web.run(report_text, web, principal.partnership, choice, now, fmt)
    filename = choice.filename(principal.partnership, fmt)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(text, media_type=_MEDIA[fmt], headers=headers)


def report_text(web: Web, partnership: str, choice: Choice, now: datetime, fmt: Format) -> str:
    from escalation.reports.render import render as render_report

    return render_report(report_for(web, partnership, choice, now), fmt)


# --- Every open challenge ----------------------------------------------------------------------


@router.get("/dashboard/open-challenges", response_class=HTMLResponse)
async def open_challenges_page(
    request: Request, page: str | None = None, partnership: str | None = None
) -> Response:
    """Every open challenge of the partnership, most overdue first, a page at a time."""
    principal = await partnership_reader(request, partnership)
    web = _web(request)
    number = _page_number(page)
    now = web.now()
    offset = (number - 1) * OPEN_PAGE_SIZE
    lines, total = await web.run(open_page, web, principal.partnership, now, offset, OPEN_PAGE_SIZE)
    pages = max(1, -(-total // OPEN_PAGE_SIZE))
    if number > pages:
        raise HTTPException(status_code=404, detail="no such page")
    context = {
        "title": "Open challenges",
        "nav": "dashboard",
        "partnership_name": web.registry.for_partnership(principal.partnership).partnership_name,
        "lines": lines,
        "total": total,
        "first": offset + 1,
        "pagination": _pagination(number, pages),
        "as_of": now,
    }
    return await render(request, "dashboard/open_challenges.html", context)


def _page_number(raw: str | None) -> int:
    """A page number as typed; anything else is a page that does not exist (404), not a
    validation error in JSON."""
    if raw is None or not raw.strip():
        return 1
    if not _PAGE.fullmatch(raw.strip()) or int(raw) < 1:
        raise HTTPException(status_code=404, detail="no such page")
    return int(raw)


def _pagination(number: int, pages: int) -> dict[str, Any] | None:
    """govukPagination's parameters (None for one page): previous, next, and the first, last,
    current and neighbouring page numbers, with an ellipsis for each gap, as GOV.UK advises."""
    if pages == 1:
        return None

    def href(n: int) -> str:
        return f"/dashboard/open-challenges?page={n}"

    shown = sorted({1, number - 1, number, number + 1, pages} & set(range(1, pages + 1)))
    items: list[dict[str, Any]] = []
    before = 0
    for n in shown:
        if n > before + 1:
            items.append({"ellipsis": True})
        items.append({"number": n, "href": href(n), "current": n == number})
        before = n
    params: dict[str, Any] = {"items": items, "landmarkLabel": "Pages of open challenges"}
    if number > 1:
        params["previous"] = {"href": href(number - 1)}
    if number < pages:
        params["next"] = {"href": href(number + 1)}
    return params


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def _private(response: Response) -> Response:
    """A partnership's figures and its open challenges are not for a shared cache."""
    response.headers["Cache-Control"] = "no-store"
    return response
