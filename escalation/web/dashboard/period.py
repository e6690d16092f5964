"""The partnership dashboard's period: `choose` reads `?period=` (a financial year like 2026-27
or a quarter like 2026-27-Q3; blank, the financial year now falls in) and `?publishable=yes`
into a `Choice`, which also names the downloads; `period_options` lists the financial years and
quarters the chooser offers. The periods themselves are the report's (`reports.build`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from escalation.errors import InvalidInput
from escalation.reports.cells import financial_year
from escalation.reports.model import Period

YEARS_OFFERED = 10  # financial years in the period chooser, at most; any other can be typed
PUBLISHABLE = "yes"
_QUARTER_LIKE = re.compile(r"-q", re.IGNORECASE)
_YEAR_LIKE = re.compile(r"\d{4}-\d{2}")


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
    from escalation.reports.build import parse_period  # the report's SQL loads with its pages only

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
    from escalation.reports.build import parse_period

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
