"""How a challenge and its chronology are shown: JSON for machines, text for people, CSV.

Instants are shown in ISO 8601 with the Europe/London offset. These views are for authorised
users of the CLI (and later the web pages): they include the child's reference and initials, so
they must never be written to a log or an email.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from escalation.casework.models import Challenge, ChronologyEntry, Deadline, Stage
from escalation.rules.machine import allowed_events
from escalation.rules.model import Protocol
from escalation.rules.states import is_open
from escalation.rules.workdays import to_local_iso

BACKDATING_NOTICE = 60  # seconds between effective and real time before the text export says so
CHRONOLOGY_COLUMNS = (
    "when",
    "recorded_at",
    "who",
    "event",
    "level",
    "factual_concern",
    "action",
    "impact",
)


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else to_local_iso(instant)


def stage_dict(stage: Stage) -> dict[str, Any]:
    return {
        "level": stage.level,
        "opened_at": _iso(stage.opened_at),
        "opened_by": stage.opened_by,
        "due_at": _iso(stage.due_at),
        "acknowledge_due_at": _iso(stage.acknowledge_due_at),
        "acknowledged_at": _iso(stage.acknowledged_at),
        "acknowledged_by": stage.acknowledged_by,
        "reminders_sent": stage.reminders_sent,
        "responded_at": _iso(stage.responded_at),
        "responded_by": stage.responded_by,
        "response_kind": stage.response_kind,
        "response_summary": stage.response_summary,
        "actions": stage.actions,
        "paused_at": _iso(stage.paused_at),
        "escalated_at": _iso(stage.escalated_at),
        "escalated_by": stage.escalated_by,
        "escalation_reason": stage.escalation_reason,
        "escalation_kind": stage.escalation_kind,
        "ended_at": _iso(stage.ended_at),
        "end_reason": stage.end_reason,
    }


def outcome_dict(challenge: Challenge) -> dict[str, Any] | None:
    if (
        challenge.resolved_at is None
        and challenge.closed_at is None
        and challenge.withdrawn_at is None
    ):
        return None
    return {
        "outcome": challenge.outcome,
        "resolved_at": _iso(challenge.resolved_at),
        "resolved_level": challenge.resolved_level,
        "resolved_by": challenge.resolved_by,
        "statement": challenge.outcome_statement,
        "how_life_will_improve": challenge.life_improvement,
        "recorded_on_both_files": challenge.recorded_on_both_files,
        "outcome_check_improved": challenge.outcome_improved,
        "outcome_answered_at": _iso(challenge.outcome_answered_at),
        "closed_at": _iso(challenge.closed_at),
        "closed_reason": challenge.closed_reason,
        "withdrawn_at": _iso(challenge.withdrawn_at),
        "withdrawn_reason": challenge.withdrawn_reason,
    }


def current_due(challenge: Challenge) -> datetime | None:
    stage = challenge.current_stage
    if not is_open(challenge.state) or stage is None or stage.ended_at is not None:
        return None
    if challenge.state.endswith((".responded", ".paused")):
        return None
    return stage.due_at


def challenge_dict(
    challenge: Challenge, protocol: Protocol, pending: Sequence[Deadline] = ()
) -> dict[str, Any]:
    return {
        "reference": challenge.reference,
        "partnership": challenge.partnership,
        "protocol": {"id": challenge.protocol_id, "version": challenge.protocol_version},
        "state": challenge.state,
        "level": challenge.level,
        "urgent": challenge.urgent,
        "due_at": _iso(current_due(challenge)),
        "raised_at": _iso(challenge.raised_at),
        "raising_organisation": challenge.raising_org.name,
        "raiser": challenge.raiser_name,
        "responding_organisation": challenge.responding_org.name,
        "responding_team": challenge.responding_team,
        "responder": challenge.responder_name,
        "child": {
            "reference": challenge.child_ref,
            "initials": challenge.child_initials,
            "birth_year": challenge.child_birth_year,
            "siblings_affected": challenge.siblings_affected,
        },
        "category": challenge.category,
        "decision": {
            "what": challenge.decision_what,
            "date": challenge.decision_date,
            "reference": challenge.decision_ref,
        },
        "levels_of_need": {
            "raiser_view": challenge.need_raiser_view,
            "decision": challenge.need_decision,
        },
        "concern": challenge.concern_summary,
        "evidence": challenge.evidence,
        "desired_outcome": challenge.desired_outcome,
        "voice_of_child": challenge.voice_of_child,
        "start_reason": challenge.start_reason,
        "stages": [stage_dict(stage) for stage in challenge.stages],
        "outcome": outcome_dict(challenge),
        "allowed_events": allowed_events(
            protocol, challenge.state, acknowledged=challenge.level_acknowledged
        ),
        "pending_deadlines": [{"kind": d.kind, "due_at": _iso(d.due_at)} for d in pending],
    }


def challenge_text(
    challenge: Challenge, protocol: Protocol, pending: Sequence[Deadline] = ()
) -> str:
    data = challenge_dict(challenge, protocol, pending)
    level = protocol.level(challenge.level).name if challenge.level else "—"
    lines = [
        f"{challenge.reference}  [{challenge.state}]{'  URGENT' if challenge.urgent else ''}",
        f"  partnership      {challenge.partnership} (protocol {protocol.key})",
        f"  level            {challenge.level or '—'} {level}",
        f"  due              {data['due_at'] or '—'}",
        f"  raised           {data['raised_at']} by {challenge.raiser_name}, "
        f"{challenge.raising_org.name}",
        f"  responding       {challenge.responding_org.name}"
        + (f", {challenge.responding_team}" if challenge.responding_team else ""),
        f"  child            ref {challenge.child_ref}"
        + (f", {challenge.child_initials}" if challenge.child_initials else ""),
        f"  category         {challenge.category}",
        f"  allowed now      {', '.join(data['allowed_events']) or 'nothing (finished)'}",
        "  stages:",
    ]
    lines += [
        f"    level {s.level}: opened {_iso(s.opened_at)}, due {_iso(s.due_at) or '—'}, "
        f"ended {_iso(s.ended_at) or '—'}" + (f" ({s.end_reason})" if s.end_reason else "")
        for s in challenge.stages
    ]
    if pending:
        lines.append("  next deadlines:")
        lines += [f"    {d.due_at and _iso(d.due_at)}  {d.kind}" for d in pending]
    outcome = data["outcome"]
    if outcome:
        lines.append(
            f"  outcome          {outcome['outcome'] or '—'}; "
            f"closed: {outcome['closed_reason'] or '—'}"
        )
    return "\n".join(lines)


def chronology_rows(entries: Sequence[ChronologyEntry]) -> list[dict[str, Any]]:
    return [
        {
            "when": _iso(e.occurred_at),
            "recorded_at": _iso(e.recorded_at),
            "who": e.who,
            "event": e.event,
            "level": e.level,
            "factual_concern": e.concern,
            "action": e.action,
            "impact": e.impact,
        }
        for e in entries
    ]


def chronology_export(entries: Sequence[ChronologyEntry], fmt: str) -> str:
    rows = chronology_rows(entries)
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CHRONOLOGY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {key: spreadsheet_safe(value) for key, value in row.items()} for row in rows
        )
        return buffer.getvalue()
    return "\n\n".join(_entry_text(entry, row) for entry, row in zip(entries, rows, strict=True))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Free text opened in a spreadsheet must stay text: a cell starting like a formula gets a
    leading apostrophe (OWASP's advice against CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _entry_text(entry: ChronologyEntry, row: dict[str, Any]) -> str:
    # Backdated (or simulated) entries show when they were really written.
    backdated = abs((entry.recorded_at - entry.occurred_at).total_seconds()) > BACKDATING_NOTICE
    return (
        f"{row['when']}  {row['who']}  [{row['event']}, level {row['level'] or '—'}]"
        + (f"  (recorded {row['recorded_at']})" if backdated else "")
        + f"\n  concern: {row['factual_concern']}\n  action:  {row['action']}"
        + f"\n  impact:  {row['impact']}"
    )
