"""The partnership dashboard: the partnership report (PROTOCOL.md §7) for the reader's own
partnership, as pages.

- GET /dashboard: for a period (`?period=2026-27` or `2026-27-Q3`; by default the financial year
  today falls in, so far), the headline figures, the open challenges now, and every section of
  the report as GOV.UK tables, each charted table drawn (`report_charts`) and followed by its
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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from escalation.digest_figures import AWAITING
from escalation.errors import InvalidInput
from escalation.machine import Status, split_state
from escalation.models import Challenge, Organisation, Stage
from escalation.report_cells import figure_columns, financial_year, period_words, words
from escalation.report_model import Cell, Period, Report, Suppressed, Table
from escalation.report_render import Format
from escalation.web.auth import Principal, require_user
from escalation.web.context import Web
from escalation.web.pages import error_list, errors_by_field, render
from escalation.workdays import Calendar, utc

if TYPE_CHECKING:
    from escalation.report_charts import DrawnChart

router = APIRouter(include_in_schema=False)

FORBIDDEN = "Only the partnership's business unit can see the partnership dashboard."
TITLE = "Partnership dashboard"
OPEN_ON_DASHBOARD = 50  # the rest are a link away, so that the figures stay near the top
OPEN_PAGE_SIZE = 100
YEARS_OFFERED = 10  # financial years in the period chooser, at most; any other can be typed
PUBLISHABLE = "yes"
CHARTS_KEPT = 128  # drawn charts kept for the next visit: a few MB of SVG at most
_QUARTER_LIKE = re.compile(r"-q", re.IGNORECASE)
_YEAR_LIKE = re.compile(r"\d{4}-\d{2}")
_PAGE = re.compile(r"[0-9]{1,6}")  # ASCII digits: str.isdigit takes "²", which int() refuses
_STATUS_WORDS = {
    Status.AWAITING_RESPONSE: "Awaiting response",
    Status.OVERDUE: "Awaiting response",
    Status.LAPSE_PROMPT: "Awaiting response",
    Status.RESPONDED: "Responded: with the raiser",
    Status.PAUSED: "Paused",
}
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
    web: Web = request.app.state.web
    if principal.partnership not in web.registry.partnerships():
        raise HTTPException(status_code=404, detail="no protocol for this partnership")
    return principal


# --- The period --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """The period chosen (`key`: its `period` query value) and whether publishable."""

    key: str
    period: Period
    publishable: bool

    def query(self) -> str:
        values = {"period": self.key}
        if self.publishable:
            values["publishable"] = PUBLISHABLE
        return urlencode(values)

    def filename(self, partnership: str, extension: str) -> str:
        suffix = "-publishable" if self.publishable else ""
        return f"crp-report-{partnership}-{self.key}{suffix}.{extension}"


def choose(raw: str | None, publishable: str | None, now: datetime) -> Choice:
    """The period from `?period=` (blank: the financial year `now` falls in); InvalidInput
    names the field "period"."""
    from escalation.reports import parse_period  # the report's SQL loads with its pages only

    key = (raw or "").strip() or financial_year(now)
    quarter = bool(_QUARTER_LIKE.search(key))
    try:
        if quarter:
            period = parse_period(None, key, None, None)
        else:
            period = parse_period(key, None, None, None)
    except InvalidInput as exc:
        if not quarter and not _YEAR_LIKE.fullmatch(key):
            raise InvalidInput("period", _not_a_period(key)) from None
        raise InvalidInput("period", exc.problem) from None
    return Choice(_key(period, quarter), period, publishable == PUBLISHABLE)


def _key(period: Period, quarter: bool) -> str:
    """The period's query value written afresh from its dates ("2026-27", "2026-27-Q3"), not
    as typed: it names the downloaded file, so it must be plain ASCII, and the period's pattern
    takes the digits of any script."""
    first = period.start.year if period.start.month >= 4 else period.start.year - 1
    year = f"{first}-{(first + 1) % 100:02d}"
    return f"{year}-Q{(period.start.month - 4) % 12 // 3 + 1}" if quarter else year


def _not_a_period(key: str) -> str:
    shown = f"'{key}'" if len(key) <= 30 else "that"  # a pasted page of text is not echoed
    return f"{shown} is not a financial year like 2026-27 or a quarter like 2026-27-Q3"


def period_options(first_year: int, today: date, chosen: Choice | None) -> list[dict[str, Any]]:
    """govukSelect items: each financial year from the one starting in `first_year` to this
    one, newest first, each followed by its quarters that have begun; `chosen` selected, and
    added when it is none of these, so that the select always says what the page shows."""
    from escalation.reports import parse_period

    this_year = today.year if today.month >= 4 else today.year - 1
    oldest = min(this_year, max(first_year, this_year - YEARS_OFFERED + 1))
    items: list[dict[str, Any]] = []
    for start in range(this_year, oldest - 1, -1):
        year = f"{start}-{(start + 1) % 100:02d}"
        items.append({"value": year, "text": f"{year}: the whole financial year"})
        for number in range(1, 5):
            quarter = parse_period(None, f"{year}-Q{number}", None, None)
            if quarter.start <= today:
                items.append({"value": f"{year}-Q{number}", "text": quarter.label})
    key = chosen.key if chosen else None
    if chosen is not None and key not in {item["value"] for item in items}:
        items.insert(0, {"value": key, "text": chosen.period.label})
    for item in items:
        item["selected"] = item["value"] == key
    return items


# --- The pages ---------------------------------------------------------------------------------


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    period: str | None = None,
    publishable: str | None = None,
    partnership: str | None = None,
) -> Response:
    principal = await partnership_reader(request, partnership)
    web: Web = request.app.state.web
    now = web.now()
    try:
        choice = choose(period, publishable, now)
    except InvalidInput as exc:
        return await _period_refused(request, principal, exc, now)
    view = await web.run(build_dashboard, web, principal.partnership, choice, now)
    context = {
        "title": TITLE,
        "nav": "dashboard",
        "view": view,
        "choice": choice,
        "partnership_name": view.report.partnership_name,
        "period_words": period_words(choice.period),
        "options": view.options,
        "open_more": view.open_total > len(view.open_lines),
    }
    return _private(await render(request, "dashboard/index.html", context))


async def _period_refused(
    request: Request, principal: Principal, problem: InvalidInput, now: datetime
) -> Response:
    """The dashboard with only its period chooser and the error (400): no report is built for
    a period that is not one."""
    web: Web = request.app.state.web
    first = await web.run(_first_year, web, principal.partnership, now)
    errors = error_list(problem)
    context = {
        "title": TITLE,
        "nav": "dashboard",
        "view": None,
        "choice": None,
        "partnership_name": web.registry.for_partnership(principal.partnership).partnership_name,
        "options": period_options(first, _local_today(web, principal.partnership, now), None),
        "errors": errors,
        "field_errors": errors_by_field(errors),
    }
    return _private(await render(request, "dashboard/index.html", context, status=400))


@router.get("/dashboard/export.csv")
async def export_csv(
    request: Request,
    period: str | None = None,
    publishable: str | None = None,
    partnership: str | None = None,
) -> Response:
    """The report as `escalation report --format csv` writes it."""
    return await _download(request, period, publishable, partnership, "csv")


@router.get("/dashboard/report.html")
async def export_html(
    request: Request,
    period: str | None = None,
    publishable: str | None = None,
    partnership: str | None = None,
) -> Response:
    """The self-contained report page, for printing or a board paper."""
    return await _download(request, period, publishable, partnership, "html")


async def _download(
    request: Request,
    period: str | None,
    publishable: str | None,
    partnership: str | None,
    fmt: Format,
) -> Response:
    principal = await partnership_reader(request, partnership)
    web: Web = request.app.state.web
    now = web.now()
    try:
        choice = choose(period, publishable, now)
    except InvalidInput as exc:
        return await _period_refused(request, principal, exc, now)
    text = await web.run(report_text, web, principal.partnership, choice, now, fmt)
    filename = choice.filename(principal.partnership, fmt)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return _private(Response(text, media_type=_MEDIA[fmt], headers=headers))


@router.get("/dashboard/open-challenges", response_class=HTMLResponse)
async def open_challenges_page(
    request: Request, page: str | None = None, partnership: str | None = None
) -> Response:
    """Every open challenge of the partnership, most overdue first, a page at a time."""
    principal = await partnership_reader(request, partnership)
    web: Web = request.app.state.web
    number = _page_number(page)
    now = web.now()
    lines, total = await web.run(
        _open_page, web, principal.partnership, now, (number - 1) * OPEN_PAGE_SIZE
    )
    pages = max(1, -(-total // OPEN_PAGE_SIZE))
    if number > pages:
        raise HTTPException(status_code=404, detail="no such page")
    context = {
        "title": "Open challenges",
        "nav": "dashboard",
        "partnership_name": web.registry.for_partnership(principal.partnership).partnership_name,
        "lines": lines,
        "total": total,
        "first": (number - 1) * OPEN_PAGE_SIZE + 1,
        "pagination": _pagination(number, pages),
        "as_of": now,
    }
    return _private(await render(request, "dashboard/open_challenges.html", context))


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


def _private(response: Response) -> Response:
    """A partnership's figures and its open challenges are not for a shared cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


# --- Building the dashboard (in a worker thread) -----------------------------------------------


@dataclass(frozen=True)
class TableView:
    dom_id: str
    title: str
    note: str | None
    chart: Markup | None  # the <svg>, already safe
    withheld: tuple[str, ...]  # bars not drawn: fewer than 5
    params: dict[str, Any] | None  # govukTable's parameters; None when the table has no row
    wide: bool  # more columns than a phone shows: the table scrolls sideways


@dataclass(frozen=True)
class SectionView:
    dom_id: str
    title: str
    tables: tuple[TableView, ...]


@dataclass(frozen=True)
class OpenLine:
    """An open challenge as the dashboard lists it: no child, no concern, no free text."""

    reference: str
    level: int | None
    status: str
    urgent: bool
    raising_org: str
    responding_org: str
    due: datetime | None  # when a response is awaited
    overdue_days: int | None  # working days overdue; None when not overdue


@dataclass(frozen=True)
class DashboardView:
    report: Report
    headlines: list[dict[str, Any]]  # govukSummaryList rows
    sections: tuple[SectionView, ...]
    open_lines: list[OpenLine]
    open_total: int
    options: list[dict[str, Any]]


def build_dashboard(web: Web, partnership: str, choice: Choice, now: datetime) -> DashboardView:
    from escalation.reports import build_report

    report = build_report(
        web.sessions, web.registry, partnership, choice.period, now, choice.publishable
    )
    calendar = web.registry.for_partnership(partnership).calendar()
    with web.sessions() as session:
        lines, total = open_challenges(session, partnership, calendar, now, 0, OPEN_ON_DASHBOARD)
        first = first_year(session, partnership, now)
    return DashboardView(
        report,
        headlines(report),
        section_views(report),
        lines,
        total,
        period_options(first, calendar.local_date(now), choice),
    )


def report_text(web: Web, partnership: str, choice: Choice, now: datetime, fmt: Format) -> str:
    from escalation.report_render import render as render_report
    from escalation.reports import build_report

    report = build_report(
        web.sessions, web.registry, partnership, choice.period, now, choice.publishable
    )
    return render_report(report, fmt)


def _first_year(web: Web, partnership: str, now: datetime) -> int:
    with web.sessions() as session:
        return first_year(session, partnership, now)


def _local_today(web: Web, partnership: str, now: datetime) -> date:
    return web.registry.for_partnership(partnership).calendar().local_date(now)


def _open_page(
    web: Web, partnership: str, now: datetime, offset: int
) -> tuple[list[OpenLine], int]:
    calendar = web.registry.for_partnership(partnership).calendar()
    with web.sessions() as session:
        return open_challenges(session, partnership, calendar, now, offset, OPEN_PAGE_SIZE)


# --- Headline figures --------------------------------------------------------------------------


def headlines(report: Report) -> list[dict[str, Any]]:
    """The figures a reader looks for first, taken from the report's own tables (so they are
    the report's numbers, withheld alike when publishable)."""
    open_now, period = report.table("open_summary"), report.table("period_summary")
    figures = (
        ("Open now", words(_row(open_now, "Open challenges"))),
        ("Overdue now", words(_row(open_now, "Overdue now"))),
        ("Raised in the period", words(_row(period, "Challenges raised"))),
        ("Resolved in the period", words(_row(period, "Challenges resolved"))),
        ("Resolved at levels 1–2 (the protocol's aim)", _share(report.table("resolved_share"))),
    )
    return [{"key": {"text": key}, "value": {"text": value}} for key, value in figures]


def _row(table: Table, label: str, column: int = 1) -> Cell:
    for row in table.rows:
        if row[0] == label:
            return row[column]
    raise KeyError(f"{table.id} has no row {label!r}")


def _share(table: Table) -> str:
    """The share resolved at levels 1–2: the first row of `resolved_share` (levels up to the
    aim come first), its third column."""
    cell = table.rows[0][2] if table.rows else None
    if cell is None:
        return "No challenge resolved in the period"
    if isinstance(cell, Suppressed):
        return "Withheld: too few challenges to publish"
    return f"{words(cell)}% of the challenges resolved in the period"


# --- The report's sections as GOV.UK tables ----------------------------------------------------


def section_views(report: Report) -> tuple[SectionView, ...]:
    return tuple(
        SectionView(
            f"section-{number}",
            section.title,
            tuple(table_view(t, _chart(t, f"chart-{t.id}")) for t in section.tables),
        )
        for number, section in enumerate(report.sections, start=1)
    )


@lru_cache(maxsize=CHARTS_KEPT)
def _chart(table: Table, dom_id: str) -> DrawnChart | None:
    """`report_charts.draw`, kept: drawing the report's charts takes matplotlib a second or
    more, and most of them are unchanged from one visit to the next. A `Table` is frozen and
    holds only its figures, so equal tables draw the same chart."""
    from escalation.report_charts import draw  # matplotlib loads with the dashboard only

    return draw(table, dom_id)


def table_view(table: Table, drawn: DrawnChart | None) -> TableView:
    return TableView(
        dom_id=f"table-{table.id}",  # table ids are unique within a report
        title=table.title,
        note=table.note,
        chart=Markup(drawn.svg) if drawn else None,  # matplotlib's SVG, its ids made ours
        withheld=drawn.withheld if drawn else (),
        params=govuk_table(table, drawn is not None),
        wide=len(table.columns) > 3,
    )


def govuk_table(table: Table, charted: bool) -> dict[str, Any] | None:
    """govukTable's parameters: figures right-aligned, each row headed by its first cell; a
    charted table's caption says it gives the chart's figures, another's repeats its heading
    for screen readers only."""
    if not table.rows:
        return None
    numeric = set(figure_columns(table))
    return {
        "caption": f"The figures in the chart: {table.title}" if charted else table.title,
        "captionClasses": "govuk-table__caption--s" if charted else "govuk-visually-hidden",
        "firstCellIsHeader": True,
        "head": _cells(table.columns, numeric, header=True),
        "rows": [_cells(row, numeric) for row in table.rows],
    }


def _cells(values: Sequence[Cell], numeric: set[int], header: bool = False) -> list[Any]:
    cells: list[dict[str, Any]] = []
    for index, value in enumerate(values):
        cell: dict[str, Any] = {"text": value if header else words(value)}
        if index in numeric:
            cell["format"] = "numeric"
        cells.append(cell)
    return cells


# --- Open challenges ---------------------------------------------------------------------------


def _open(partnership: str) -> ColumnElement[bool]:
    """Open: a level is in play (state `level_<n>.…`), as the report counts them."""
    return and_(
        Challenge.partnership == partnership, Challenge.state.like("level\\_%", escape="\\")
    )


def open_challenges(
    session: Session,
    partnership: str,
    calendar: Calendar,
    now: datetime,
    offset: int,
    limit: int,
) -> tuple[list[OpenLine], int]:
    """A page of the partnership's open challenges, most overdue first, then by due time (those
    not awaiting a response last), and how many are open in all."""
    now = utc(now)
    total = session.scalar(select(func.count()).select_from(Challenge).where(_open(partnership)))
    raiser, responder = aliased(Organisation), aliased(Organisation)
    statuses = [status.replace("_", "\\_") for status in AWAITING]
    awaiting = or_(*(Challenge.state.like(f"level\\_%.{s}", escape="\\") for s in statuses))
    overdue = and_(awaiting, Stage.due_at < now)
    rows = session.execute(
        select(
            Challenge.reference,
            Challenge.state,
            Challenge.urgent,
            Stage.due_at,
            raiser.name,
            responder.name,
        )
        .select_from(Challenge)
        # The current stage of an open challenge is its one stage not ended (as the report's).
        .outerjoin(Stage, and_(Stage.challenge_id == Challenge.id, Stage.ended_at.is_(None)))
        .join(raiser, raiser.id == Challenge.raising_org_id)
        .join(responder, responder.id == Challenge.responding_org_id)
        .where(_open(partnership))
        .order_by(
            case((overdue, 0), else_=1),
            case((awaiting, 0), else_=1),
            Stage.due_at,
            Challenge.id,
        )
        .offset(offset)
        .limit(limit)
    ).all()
    today = calendar.local_date(now)
    lines = [_line(calendar, today, now, *row) for row in rows]
    return lines, int(total or 0)


def _line(
    calendar: Calendar,
    today: date,
    now: datetime,
    reference: str,
    state: str,
    urgent: bool,
    due_at: datetime | None,
    raising_org: str,
    responding_org: str,
) -> OpenLine:
    level, status = split_state(state)
    awaiting = status.value in AWAITING
    due = utc(due_at) if awaiting and due_at is not None else None
    late = None
    if due is not None and due < now:
        late = calendar.working_days_between(calendar.local_date(due), today)
    return OpenLine(
        reference,
        level,
        _STATUS_WORDS.get(status, status.value.replace("_", " ").capitalize()),
        bool(urgent),
        raising_org,
        responding_org,
        due,
        late,
    )


def first_year(session: Session, partnership: str, now: datetime) -> int:
    """The first year of the financial year of the partnership's first challenge (this year's
    when it has none): the period chooser starts there."""
    first = session.scalar(
        select(func.min(Challenge.raised_at)).where(Challenge.partnership == partnership)
    )
    return int(financial_year(first if first is not None else now)[:4])
