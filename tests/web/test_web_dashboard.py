"""The partnership dashboard pages: who may see them, the figures they show (worked out by hand
below), the open challenges, the charts with their tables, the downloads, a bad period, and that
no child's details reach any of it.

The clock is fixed at Tuesday 29 December 2026, 10:00 (the first working day after Christmas).
Devon has four challenges, all raised by Ashcombe Primary School to the Devon Front Door:

- OVERDUE: raised Mon 5 Oct 2026 (Q3), never answered: open at level 1, its response long due;
  it carries every privacy marker;
- TODAY: raised Tue 29 Dec 2026 09:00 (Q3): open at level 1, not yet due;
- RESOLVED_Q3: raised Mon 2 Nov 2026, resolved at level 1 on Tue 10 Nov 2026;
- RESOLVED_Q1: raised Fri 1 May 2026, resolved at level 1 on Tue 5 May 2026.

So for 2026-27: open now 2, overdue now 1, raised 4, resolved 2, all at level 1 (100.0%). For
2026-27 Q3: raised 3, resolved 1. Plymouth has one open challenge, raised Mon 2 Nov 2026.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from escalation.casework.intake import Resolution
from escalation.reports.build import build_report, parse_period
from escalation.reports.render import CSV_HEADER, render_csv
from escalation.web.context import Web
from escalation.web.dashboard import pages as pages_dashboard
from escalation.web.dashboard import views as dashboard_views
from tests.conftest import BUSINESS_MANAGER, PRIVACY_MARKERS, london, raise_request
from tests.web_support import (
    DEVON_ADMIN_EMAIL,
    DEVON_PARTNERSHIP_EMAIL,
    PLYMOUTH_PARTNERSHIP_EMAIL,
    SCHOOL_DSL_EMAIL,
    SERVICE_MANAGER_EMAIL,
    TestClient,  # imported there with starlette's note about httpx2 silenced
    browser,
    sign_in_as,
    web_app,
)

NOW = london("2026-12-29 10:00")
DECIDED = "2026-04-20"  # the challenged decision: before every challenge
FORBIDDEN = "Only the partnership&#39;s business unit can see the partnership dashboard."


@dataclass(frozen=True)
class Story:
    web: Web
    client: TestClient
    overdue: str
    today: str
    resolved_q3: str
    resolved_q1: str
    plymouth: str


@pytest.fixture
def story(engine: Engine) -> Iterator[Story]:
    web, app = web_app(engine, clock=lambda: NOW)
    service = web.service
    overdue = service.raise_challenge(
        raise_request(decision_date=DECIDED, **PRIVACY_MARKERS),
        london("2026-10-05 10:00"),
    )
    today = service.raise_challenge(
        raise_request(child_ref="CHILD-B", decision_date=DECIDED), london("2026-12-29 09:00")
    )
    resolved_q3 = service.raise_challenge(
        raise_request(child_ref="CHILD-C", decision_date=DECIDED), london("2026-11-02 10:00")
    )
    service.resolve(resolved_q3, BUSINESS_MANAGER, _resolution(), london("2026-11-10 10:00"))
    resolved_q1 = service.raise_challenge(
        raise_request(child_ref="CHILD-D", decision_date=DECIDED), london("2026-05-01 10:00")
    )
    service.resolve(resolved_q1, BUSINESS_MANAGER, _resolution(), london("2026-05-05 10:00"))
    plymouth = service.raise_challenge(
        raise_request(
            partnership="plymouth",
            raising_org="Cattedown Primary School",
            raiser_name="Cat Lead",
            raiser_email="dsl@cattedown.example.org",
            responding_org="Plymouth Gateway",
            child_ref="CHILD-P",
            decision_date=DECIDED,
        ),
        london("2026-11-02 10:00"),
    )
    with browser(app) as client:
        yield Story(web, client, overdue, today, resolved_q3, resolved_q1, plymouth)


def _resolution() -> Resolution:
    return Resolution("decision_changed", "Agreed in writing", "Seen weekly", True)


def _signed_in(story: Story, email: str = DEVON_PARTNERSHIP_EMAIL) -> TestClient:
    sign_in_as(story.web, story.client, email)
    return story.client


def _headlines(page: str) -> dict[str, str]:
    pairs = re.findall(
        r'<dt class="govuk-summary-list__key">\s*(.*?)\s*</dt>\s*'
        r'<dd class="govuk-summary-list__value">\s*(.*?)\s*</dd>',
        page,
        re.DOTALL,
    )
    return dict(pairs)


def _open_rows(page: str) -> dict[str, str]:
    """Reference -> the rest of its row, for each row of the open challenges table."""
    found = re.finditer(
        r'<a class="govuk-link" href="/challenges/([^"]+)">[^<]*</a></th>(.*?)</tr>', page, re.S
    )
    return {match.group(1): match.group(2) for match in found}


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- Who may see it ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/dashboard", "/dashboard/export.csv", "/dashboard/report.html", "/dashboard/open-challenges"],
)
def test_it_refuses_every_dashboard_page_to_a_school_and_to_nobody(story: Story, path: str) -> None:
    anonymous = story.client.get(path)
    assert anonymous.status_code == 403
    assert "Sign in to see this page" in anonymous.text

    school = _signed_in(story, SCHOOL_DSL_EMAIL).get(path)
    assert school.status_code == 403
    assert FORBIDDEN in school.text
    assert story.overdue not in school.text


def test_it_refuses_a_social_care_senior_manager(story: Story) -> None:
    page = _signed_in(story, SERVICE_MANAGER_EMAIL).get("/dashboard")
    assert page.status_code == 403
    assert FORBIDDEN in page.text


def test_it_shows_the_partnership_admin_the_dashboard(story: Story) -> None:
    page = _signed_in(story, DEVON_ADMIN_EMAIL).get("/dashboard")
    assert page.status_code == 200
    assert _headlines(page.text)["Open now"] == "2"


def test_it_shows_plymouth_only_plymouth(story: Story) -> None:
    client = _signed_in(story, PLYMOUTH_PARTNERSHIP_EMAIL)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Plymouth Safeguarding Children Partnership" in page.text
    assert list(_open_rows(page.text)) == [story.plymouth]
    for devon in (story.overdue, story.today, story.resolved_q3, story.resolved_q1):
        assert devon not in page.text
    assert "Devon Front Door" not in page.text
    assert _headlines(page.text)["Open now"] == "1"
    assert _headlines(page.text)["Raised in the period"] == "1"

    listed = client.get("/dashboard/open-challenges")
    assert story.overdue not in listed.text and story.plymouth in listed.text
    exported = client.get("/dashboard/export.csv")
    assert {row["partnership"] for row in _csv_rows(exported.text)} == {"plymouth"}
    assert "Devon Front Door" not in exported.text


@pytest.mark.parametrize(
    "path", ["/dashboard", "/dashboard/export.csv", "/dashboard/open-challenges"]
)
def test_it_does_not_let_a_partnership_choose_another(story: Story, path: str) -> None:
    client = _signed_in(story, PLYMOUTH_PARTNERSHIP_EMAIL)
    assert client.get(path, params={"partnership": "devon"}).status_code == 404
    assert client.get(path, params={"partnership": "plymouth"}).status_code == 200


# --- The figures -------------------------------------------------------------------------------


def test_it_shows_the_headline_figures_of_the_financial_year_so_far(story: Story) -> None:
    page = _signed_in(story).get("/dashboard")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "2026-27 (1 April 2026 to 31 March 2027)" in page.text
    assert "29 December 2026 at 10am" in page.text
    assert _headlines(page.text) == {
        "Open now": "2",
        "Overdue now": "1",
        "Raised in the period": "4",
        "Resolved in the period": "2",
        "Resolved at levels 1–2 (the protocol&#39;s aim)": (
            "100.0% of the challenges resolved in the period"
        ),
    }
    assert re.search(r'<option value="2026-27" selected>', page.text)


def test_it_shows_a_quarter(story: Story) -> None:
    page = _signed_in(story).get("/dashboard", params={"period": "2026-27-q3"})
    assert page.status_code == 200
    assert "2026-27 Q3 (October to December 2026)" in page.text
    headlines = _headlines(page.text)
    assert (headlines["Raised in the period"], headlines["Resolved in the period"]) == ("3", "1")
    assert headlines["Open now"] == "2"  # open now does not depend on the period
    assert re.search(r'<option value="2026-27-Q3" selected>', page.text)
    assert 'href="/dashboard/export.csv?period=2026-27-Q3"' in page.text


def test_it_offers_the_years_since_the_first_challenge_and_the_quarters_begun(
    story: Story,
) -> None:
    page = _signed_in(story).get("/dashboard")
    offered = re.findall(r'<option value="([^"]+)"', page.text)
    assert offered == ["2026-27", "2026-27-Q1", "2026-27-Q2", "2026-27-Q3"]


def test_it_shows_a_year_it_does_not_offer(story: Story) -> None:
    page = _signed_in(story).get("/dashboard", params={"period": "2019-20"}).text
    assert re.findall(r'<option value="([^"]+)"', page)[:2] == ["2019-20", "2026-27"]
    assert '<option value="2019-20" selected>2019-20</option>' in page
    assert _headlines(page)["Raised in the period"] == "0"
    assert _headlines(page)["Open now"] == "2"


def test_it_lists_the_open_challenges_with_links_and_the_overdue_flag(story: Story) -> None:
    page = _signed_in(story).get("/dashboard").text
    rows = _open_rows(page)
    assert list(rows) == [story.overdue, story.today]  # most overdue first
    assert "Overdue</strong>" in rows[story.overdue]
    # Due Mon 12 Oct 17:00 (5 working days after Mon 5 Oct). Working days after 12 Oct up to
    # Tue 29 Dec: 14 in October, 21 in November, 18 in December to Thu 24, then Tue 29 (Fri 25
    # and Mon 28 Dec are bank holidays): 54.
    assert "12 October 2026 at 5pm" in rows[story.overdue]
    assert "Overdue</strong> by 54 working days" in rows[story.overdue]
    assert "6 January 2027 at 5pm" in rows[story.today]  # Tue 29 Dec + 5 working days
    assert "Overdue</strong>" not in rows[story.today]
    for row in rows.values():
        assert "Ashcombe Primary School" in row and "Devon Front Door" in row
    assert story.resolved_q3 not in page and story.resolved_q1 not in page


def test_it_counts_the_open_challenges_on_each_protocol_version(story: Story) -> None:
    page = _signed_in(story).get("/dashboard").text
    table = page.split('id="protocol-versions"', 1)[1].split("</table>", 1)[0]
    cells = [
        re.sub(r"\s+", " ", c).strip()
        for c in re.findall(r"<t[hd](?:\s[^>]*)?>(.*?)</t[hd]>", table, re.S)
    ]
    # Devon's four not closed: overdue and today, and the two resolved awaiting their outcome
    # checks, all on devon@1; Plymouth's challenge is not on the Devon dashboard.
    assert cells == [
        "Protocol version",
        "File",
        "Running challenges",
        "devon version 1",
        "devon.yaml (new challenges are raised on it)",
        "4",
    ]


def test_it_lists_every_open_challenge_a_page_at_a_time(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_views, "OPEN_ON_DASHBOARD", 1)
    monkeypatch.setattr(pages_dashboard, "OPEN_PAGE_SIZE", 1)
    client = _signed_in(story)
    page = client.get("/dashboard").text
    assert list(_open_rows(page)) == [story.overdue]
    assert '<a class="govuk-link" href="/dashboard/open-challenges">See all 2 open' in page

    first, second = (
        client.get("/dashboard/open-challenges"),
        client.get("/dashboard/open-challenges", params={"page": "2"}),
    )
    assert list(_open_rows(first.text)) == [story.overdue]
    assert list(_open_rows(second.text)) == [story.today]
    assert 'href="/dashboard/open-challenges?page=2"' in first.text
    assert client.get("/dashboard/open-challenges", params={"page": "3"}).status_code == 404
    for nonsense in ("x", "0", "²", "-1"):
        assert (
            client.get("/dashboard/open-challenges", params={"page": nonsense}).status_code == 404
        )


def test_it_numbers_the_pages_around_the_current_one() -> None:
    def numbers(current: int, pages: int) -> list[object]:
        params = pages_dashboard._pagination(current, pages)
        assert params is not None
        return [item.get("number", "…") for item in params["items"]]

    assert pages_dashboard._pagination(1, 1) is None
    assert numbers(1, 2) == [1, 2]
    assert numbers(1, 9) == [1, 2, "…", 9]
    assert numbers(5, 9) == [1, "…", 4, 5, 6, "…", 9]
    assert numbers(3, 9) == [1, 2, 3, 4, "…", 9]
    assert numbers(9, 9) == [1, "…", 8, 9]


def test_it_draws_each_charted_table_titled_and_followed_by_its_figures(story: Story) -> None:
    page = _signed_in(story).get("/dashboard").text
    figures = re.findall(r'<figure class="app-chart[^"]*">(.*?)</figure>', page, re.DOTALL)
    assert len(figures) >= 10
    for figure in figures:
        chart = re.search(
            r'<svg class="chart" role="img" aria-labelledby="(chart-\w+)-title \1-desc"', figure
        )
        assert chart is not None
        title = re.search(rf'<title id="{chart.group(1)}-title">(.*?)</title>', figure)
        assert title is not None and title.group(1)
        after = page[page.index(figure) + len(figure) :]
        caption = re.search(r"<caption[^>]*>\s*(.*?)\s*</caption>", after, re.DOTALL)
        assert caption is not None
        assert caption.group(1) == f"The figures in the chart: {title.group(1)}"
    assert 'aria-labelledby="chart-open_by_level-title' in page
    assert 'aria-labelledby="chart-resolved_by_level-title' in page


def test_it_shows_every_table_of_the_report_in_its_section(story: Story) -> None:
    page = _signed_in(story).get("/dashboard").text
    report = build_report(
        story.web.sessions,
        story.web.registry,
        "devon",
        parse_period("2026-27", None, None, None),
        NOW,
        False,
    )
    for section in report.sections:
        assert f">{section.title}</h2>" in page.replace("&#39;", "'")
        for table in section.tables:
            assert f'<h3 class="govuk-heading-m" id="table-{table.id}">' in page
    level_1 = re.search(
        r'<th scope="row" class="govuk-table__header">Level 1 \(Practitioner to practitioner\)'
        r"</th>\s*<td[^>]*>\s*(\d+)\s*</td>\s*<td[^>]*>\s*(\d+)\s*</td>",
        page,
    )
    assert level_1 is not None and level_1.groups() == ("2", "1")  # open, overdue now


def test_it_has_one_h1_captioned_tables_and_unique_ids(story: Story) -> None:
    for path in ("/dashboard", "/dashboard/open-challenges"):
        page = _signed_in(story).get(path).text
        assert page.count("<h1") == 1
        assert page.count("<table") == page.count("<caption")
        ids = Counter(re.findall(r'\sid="([^"]+)"', page))
        assert [name for name, n in ids.items() if n > 1] == []


def test_it_withholds_small_counts_when_publishable(story: Story) -> None:
    page = _signed_in(story).get("/dashboard", params={"publishable": "yes"}).text
    assert _headlines(page)["Open now"] == "fewer than 5"
    assert "Publishable: counts of 1 to 4" in page
    assert 'href="/dashboard/export.csv?period=2026-27&amp;publishable=yes"' in page
    assert re.search(r'name="publishable" type="checkbox" value="yes" checked', page)


# --- A period that is not one ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "problem"),
    [
        ("2026", "Period: &#39;2026&#39; is not a financial year like 2026-27"),
        ("2026-28", "Period: 2026-28 is not one year"),
        ("2026-27-Q5", "Period: &#39;2026-27-Q5&#39; is not a quarter like 2026-27-Q3"),
        ("last year", "Period: &#39;last year&#39; is not a financial year like 2026-27 or a"),
    ],
)
def test_it_refuses_a_bad_period_naming_the_field(story: Story, period: str, problem: str) -> None:
    page = _signed_in(story).get("/dashboard", params={"period": period})
    assert page.status_code == 400
    assert "govuk-error-summary" in page.text
    assert '<a href="#period">' in page.text
    assert problem in page.text
    assert 'id="period-error"' in page.text  # the select says it too
    assert "<title>Error: " in page.text
    assert story.overdue not in page.text  # no report for a period that is not one


def test_it_refuses_a_bad_period_for_a_download(story: Story) -> None:
    response = _signed_in(story).get("/dashboard/export.csv", params={"period": "2026-Q3"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert '<a href="#period">' in response.text


# --- Downloads ---------------------------------------------------------------------------------


def test_it_exports_the_report_as_the_command_writes_it(story: Story) -> None:
    response = _signed_in(story).get("/dashboard/export.csv", params={"period": "2026-27-Q3"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="crp-report-devon-2026-27-Q3.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    period = parse_period(None, "2026-27-Q3", None, None)
    report = build_report(story.web.sessions, story.web.registry, "devon", period, NOW, False)
    assert response.text == render_csv(report)

    rows = _csv_rows(response.text)
    assert tuple(rows[0]) == CSV_HEADER
    summary = {r["row"]: r["value"] for r in rows if r["table_id"] == "period_summary"}
    assert (summary["Challenges raised"], summary["Challenges resolved"]) == ("3", "1")
    assert {r["period"] for r in rows} == {"2026-27 Q3 (October to December 2026)"}


def test_it_exports_a_publishable_report(story: Story) -> None:
    response = _signed_in(story).get(
        "/dashboard/export.csv", params={"period": "2026-27", "publishable": "yes"}
    )
    assert response.headers["content-disposition"] == (
        'attachment; filename="crp-report-devon-2026-27-publishable.csv"'
    )
    summary = {
        r["row"]: r["value"] for r in _csv_rows(response.text) if r["table_id"] == "open_summary"
    }
    assert summary == {"Open challenges": "<5", "Overdue now": "<5"}


def test_it_downloads_the_html_report(story: Story) -> None:
    response = _signed_in(story).get("/dashboard/report.html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="crp-report-devon-2026-27.html"'
    )
    assert "<h1>Case Resolution Protocol report</h1>" in response.text
    assert "Devon Safeguarding Children Partnership" in response.text


# --- Privacy -----------------------------------------------------------------------------------


def test_it_never_shows_a_childs_details(story: Story) -> None:
    client = _signed_in(story)
    shown = [
        client.get("/dashboard").text,
        client.get("/dashboard", params={"period": "2026-27-Q3"}).text,
        client.get("/dashboard/open-challenges").text,
        client.get("/dashboard/export.csv").text,
        client.get("/dashboard/report.html").text,
    ]
    assert story.overdue in shown[0]  # the challenge with the markers is there, by reference
    for text in shown:
        for marker in PRIVACY_MARKERS.values():
            assert marker not in text
        for child in ("CHILD-B", "CHILD-C", "CHILD-D"):
            assert child not in text


def test_it_names_the_download_in_plain_digits_whatever_was_typed(story: Story) -> None:
    response = _signed_in(story).get("/dashboard/export.csv", params={"period": "٢٠٢٦-٢٧-q3"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="crp-report-devon-2026-27-Q3.csv"'
    )
