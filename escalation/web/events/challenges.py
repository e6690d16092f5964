"""Following challenges: the list of a reader's challenges, one challenge's page, and its
chronology as a file. The event forms are `events.pages`, included at the end of this module.

Every challenge is read through the reader's `visible()` clause: another organisation's challenge
is 404 on every route here. The list shows no concern text; the child appears there only to the
two organisations in the challenge (their own reference and the initials), never in the
partnership's list of all its challenges. These pages may show a child's details, so they are
never cached, and nothing about the child or the concern is logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from escalation.casework.models import Challenge
from escalation.casework.views import chronology_export, current_due
from escalation.rules.dates import day_words, uk_datetime
from escalation.rules.states import Event, Status, is_open
from escalation.web import store_challenges
from escalation.web.auth import Principal, require_user
from escalation.web.context import Web
from escalation.web.events import forms as event_forms
from escalation.web.events import pages as pages_events
from escalation.web.events.forms import FORMS
from escalation.web.events.pages import Reading, asked_of, read_for, reader_events
from escalation.web.pages import render

router = APIRouter(include_in_schema=False)
RECENT = timedelta(days=90)  # how long a finished challenge stays on the list
AFTER_RESOLUTION = (
    Status.RESOLVED.value,
    Status.OUTCOME_CHECK.value,
    Status.OUTCOME_NOT_IMPROVED.value,
)
NO_STORE = {"Cache-Control": "no-store"}
EXPORTS = {"csv": ("csv", "text/csv; charset=utf-8"), "txt": ("text", "text/plain; charset=utf-8")}


# -- the list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    reference: str
    other: str  # the other organisation; both, for the partnership
    level: str
    status: str
    due_at: datetime | None
    overdue: bool
    urgent: bool
    child: str | None  # only for the two organisations in the challenge
    open: bool
    asked: bool  # something is asked of this reader now
    finished_at: datetime | None


@dataclass(frozen=True)
class Lists:
    awaiting: list[Row]
    overdue: list[Row]
    open: list[Row]
    finished: list[Row]


@router.get("/challenges", response_class=HTMLResponse)
async def challenge_list(request: Request) -> Response:
    principal = await require_user(request)
    web: Web = request.app.state.web
    lists = await web.run(_lists, web, principal)
    context = {
        "title": "Challenges",
        "nav": "challenges",
        "lists": lists,
        "partnership_view": principal.is_partnership,
    }
    return await render(request, "challenges/list.html", context)


def _lists(web: Web, principal: Principal) -> Lists:
    now = web.now()
    since = now - RECENT
    with web.sessions.begin() as session:
        # Only what the list can show: open, after resolution (the outcome check may be owed),
        # or finished recently; a partnership's older finished challenges are its reports'.
        listed = store_challenges.to_list(session, principal.visible(), AFTER_RESOLUTION, since)
        rows = [_row(web, principal, c, now) for c in listed]
    by_due = sorted(rows, key=_due_order)
    return Lists(
        awaiting=[r for r in by_due if r.asked],
        overdue=[r for r in by_due if r.overdue],
        open=[r for r in by_due if r.open],
        finished=sorted(
            (r for r in rows if r.finished_at is not None and r.finished_at >= since),
            key=lambda r: r.finished_at or now,
            reverse=True,
        ),
    )


def _row(web: Web, principal: Principal, challenge: Challenge, now: datetime) -> Row:
    protocol = web.service.protocol_of(challenge)
    _, may_now = reader_events(principal, challenge, protocol)
    due = current_due(challenge)
    raising, responding = challenge.raising_org, challenge.responding_org
    if principal.organisation_id == raising.id:
        other = responding.name
    elif principal.organisation_id == responding.id:
        other = raising.name
    else:
        other = f"{raising.name} challenges {responding.name}"
    party = principal.organisation_id in (raising.id, responding.id)
    status = challenge.state.split(".")[-1]
    finished = [
        t for t in (challenge.resolved_at, challenge.closed_at, challenge.withdrawn_at) if t
    ]
    return Row(
        reference=challenge.reference,
        other=other,
        level=f"{challenge.level}: {protocol.level(challenge.level).name}"
        if challenge.level
        else "",
        status=event_forms.STATUS_WORDS.get(status, status),
        due_at=due,
        overdue=due is not None and due < now,
        urgent=challenge.urgent,
        child=_child(challenge) if party else None,
        open=is_open(challenge.state),
        asked=bool(asked_of(challenge, may_now)),
        finished_at=None if is_open(challenge.state) or not finished else max(finished),
    )


def _child(challenge: Challenge) -> str:
    if challenge.child_initials:
        return f"{challenge.child_initials} ({challenge.child_ref})"
    return challenge.child_ref


def _due_order(row: Row) -> tuple[bool, datetime, str]:
    return (row.due_at is None, row.due_at or datetime.max.replace(tzinfo=UTC), row.reference)


# -- one challenge -----------------------------------------------------------------------------


@router.get("/challenges/{reference}", response_class=HTMLResponse)
async def challenge_page(request: Request, reference: str) -> Response:
    principal = await require_user(request)
    web: Web = request.app.state.web
    reading = await web.run(read_for, web, principal, reference, True)
    return await render(request, "challenges/show.html", _page(reading, request))


def _page(reading: Reading, request: Request) -> dict[str, Any]:
    challenge = reading.challenge
    asked = reading.asked
    done = FORMS.get(Event(request.query_params["done"])) if _known_done(request) else None
    buttons = [
        {
            "text": FORMS[event].link,
            "href": f"/challenges/{challenge.reference}/{event.value}",
            "primary": event in asked,
        }
        for event in sorted(reading.actions, key=lambda e: e not in asked)
        if event in FORMS
    ]
    return {
        "title": f"Challenge {challenge.reference}",
        "nav": "challenges",
        "challenge": challenge,
        "protocol": reading.protocol,
        "state": reading.status.value,
        "status": event_forms.STATUS_WORDS.get(reading.status.value, reading.status.value),
        "level_name": reading.level_name(challenge.level),
        "level_names": {lvl.number: lvl.name for lvl in reading.protocol.levels},
        "needs": reading.protocol.levels_of_need,
        "decision_date": _uk_day(challenge.decision_date),
        "due": current_due(challenge),
        "acknowledge_due": _acknowledge_due(reading),
        "asked": asked_sentences(reading),
        "buttons": buttons,
        "entries": reading.entries,
        "done": done.done if done else None,
        "categories": event_forms.CATEGORY_WORDS,
        "kinds": event_forms.KIND_WORDS,
        "outcomes": event_forms.OUTCOME_WORDS,
    }


def _uk_day(iso: str | None) -> str | None:
    return day_words(date.fromisoformat(iso)) if iso else None


def _known_done(request: Request) -> bool:
    # Only a known event's fixed message is shown: the query string is never echoed.
    return request.query_params.get("done") in {e.value for e in FORMS}


def _acknowledge_due(reading: Reading) -> datetime | None:
    """When the responder's acknowledgement is due, while it is still owed."""
    stage = reading.challenge.current_stage
    if stage is None or stage.ended_at is not None or stage.acknowledged_at is not None:
        return None
    if reading.status in (Status.RESPONDED, Status.PAUSED):
        return None
    return stage.acknowledge_due_at


def asked_sentences(reading: Reading) -> list[str]:
    """What this reader is asked to do now, in words."""
    asked = set(reading.asked)
    challenge = reading.challenge
    said = []
    if Event.ACKNOWLEDGE in asked:
        due = _acknowledge_due(reading)
        by = f", by {uk_datetime(due)}" if due else ""
        said.append(f"Acknowledge that you have received this challenge{by}.")
    if Event.RESPOND in asked:
        due = current_due(challenge)
        by = f" by {uk_datetime(due)}" if due else ""
        said.append(
            f"Respond{by}: say whether the decision is changed, upheld or partly changed, "
            "with your rationale and any actions agreed."
        )
    if Event.ACCEPT in asked:
        said.append(
            "Read the response below, then accept it (the challenge is resolved) or escalate "
            "it to a higher level."
        )
    elif Event.ESCALATE in asked and reading.status is Status.LAPSE_PROMPT:
        said.append("No response came in time: escalate the challenge if you still disagree.")
    if Event.OUTCOME in asked:
        said.append("Answer the outcome check: has the child's situation improved?")
    if Event.REOPEN in asked:
        said.append("The child's situation has not improved: reopen the challenge, or escalate it.")
    if Event.CLOSE in asked:
        said.append(
            "The raiser said the child's situation has not improved. If they neither reopen "
            "nor escalate the challenge, close it."
        )
    return said


# -- the chronology as a file --------------------------------------------------------------------


@router.get("/challenges/{reference}/chronology.{suffix}")
async def chronology_file(request: Request, reference: str, suffix: str) -> Response:
    principal = await require_user(request)
    if suffix not in EXPORTS:
        raise HTTPException(status_code=404, detail="not found")
    web: Web = request.app.state.web
    reading = await web.run(read_for, web, principal, reference, True)
    fmt, media_type = EXPORTS[suffix]
    filename = f"{reading.challenge.reference}-chronology.{suffix}"
    return PlainTextResponse(
        chronology_export(reading.entries, fmt),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **NO_STORE},
    )


# After the chronology file's route: `/challenges/{reference}/{name}` would match it first.
router.include_router(pages_events.router)
