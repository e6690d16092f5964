"""The one UK date wording (GOV.UK style) used by emails, pages and the report, in Europe/London.

Every expected string is written by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from escalation.rules.dates import day_words, london, london_day, uk_date, uk_datetime


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "words"),
    [
        (utc("2027-01-04T17:00"), "4 January 2027 at 5pm"),  # GMT: UTC is London
        (utc("2027-04-06T16:00"), "6 April 2027 at 5pm"),  # BST: an hour ahead of UTC
        (utc("2027-01-04T09:30"), "4 January 2027 at 9:30am"),
        (utc("2027-01-04T12:00"), "4 January 2027 at midday"),
        (utc("2027-01-04T00:00"), "4 January 2027 at midnight"),
        (utc("2027-01-04T00:05"), "4 January 2027 at 12:05am"),
        (utc("2027-01-04T12:59:59"), "4 January 2027 at 12:59pm"),  # seconds are not shown
        (utc("2026-06-30T23:30"), "1 July 2026 at 12:30am"),  # the London day, not UTC's
        (utc("2026-10-25T01:30"), "25 October 2026 at 1:30am"),  # the second 1:30 (GMT)
    ],
)
def test_an_instant_is_written_as_gov_uk_writes_it(instant: datetime, words: str) -> None:
    assert london(instant) == words
    assert uk_datetime(instant) == words


def test_a_day_is_written_without_a_weekday_or_leading_zero() -> None:
    assert london_day(utc("2027-03-01T00:30")) == "1 March 2027"
    assert london_day(utc("2026-08-31T23:30")) == "1 September 2026"  # BST
    assert uk_date(utc("2027-01-04T17:00")) == "4 January 2027"
    assert day_words(date(2026, 12, 7)) == "7 December 2026"


def test_no_instant_is_written_as_nothing_on_a_page() -> None:
    assert uk_datetime(None) == ""
    assert uk_date(None) == ""
