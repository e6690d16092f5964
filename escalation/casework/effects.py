"""Applying a transition's effects to the record: stages, deadlines, outcome fields, notices.

Each handler changes rows in the caller's session and appends what it did to the context, from
which the service writes one chronology entry per event. Nothing here commits, sends or reads
the clock: `ctx.now` is the effective time of the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from escalation.casework import store
from escalation.casework.models import Challenge, Deadline, Stage
from escalation.casework.notices import Audience, Notice, NoticeKind
from escalation.casework.store_batch import Batch
from escalation.rules import planner
from escalation.rules.dates import london
from escalation.rules.model import FollowUp, Protocol
from escalation.rules.planner import DeadlineKind, Planned
from escalation.rules.states import Effect, EffectKind, Event

BOTH = (Audience.RAISER, Audience.RESPONDER)
OUTCOME_KINDS = (
    DeadlineKind.OUTCOME_CHECK,
    DeadlineKind.OUTCOME_REMINDER,
    DeadlineKind.OUTCOME_CLOSE,
    DeadlineKind.RAISER_REMINDER,
)


@dataclass
class Context:
    session: Session
    challenge: Challenge
    protocol: Protocol
    event: Event
    now: datetime
    who: str
    args: dict[str, Any]
    batch: Batch | None = None  # the sweep's, when it applies a batch of deadlines
    actions: list[str] = field(default_factory=list)
    impacts: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    @property
    def stage(self) -> Stage:
        stage = self.challenge.current_stage
        assert stage is not None and stage.ended_at is None, "no open stage"
        return stage

    def when(self, instant: datetime | None) -> str:
        # As people read it: "Friday 27 November 2026 at 16:00" (Europe/London).
        return "—" if instant is None else london(instant)

    def notify(
        self,
        kind: NoticeKind,
        audience: tuple[Audience, ...],
        due_at: datetime | None = None,
        level: int | None = None,
    ) -> None:
        level = self.challenge.level if level is None else level
        if level is not None and self.protocol.level(level).copy_partnership:
            audience = (*audience, Audience.PARTNERSHIP)
        self.notices.append(Notice(kind, level, tuple(dict.fromkeys(audience)), due_at))


def add_deadlines(
    ctx: Context, planned: list[Planned] | tuple[Planned, ...], stage: Stage | None = None
) -> None:
    for item in planned:
        store.add_deadline(
            ctx.session,
            Deadline(
                challenge_id=ctx.challenge.id,
                stage=stage,
                kind=item.kind.value,
                due_at=item.due_at,
                expires_at=item.expires_at,
                detail=item.detail,
            ),
            ctx.batch,
        )


def _open_stage(ctx: Context, effect: Effect) -> None:
    assert effect.level is not None
    store.cancel_pending(ctx.session, ctx.challenge.id, ctx.now, batch=ctx.batch)
    plan = planner.plan_stage(ctx.protocol, effect.level, ctx.challenge.urgent, ctx.now)
    stage = Stage(
        seq=len(ctx.challenge.stages) + 1,
        level=effect.level,
        opened_at=ctx.now,
        opened_by=ctx.who,
        due_at=plan.due_at,
        acknowledge_due_at=plan.acknowledge_due_at,
        actions=[],
        reminders_sent=0,
    )
    ctx.challenge.stages.append(stage)
    ctx.challenge.level = effect.level
    add_deadlines(ctx, plan.deadlines, stage)
    name = ctx.protocol.level(effect.level).name
    ctx.actions.append(f"Level {effect.level} ({name}) opened")
    ctx.impacts.append(
        f"acknowledgement due by {ctx.when(plan.acknowledge_due_at)}; "
        f"response due by {ctx.when(plan.due_at)}"
    )
    kind = {
        Event.RAISE: NoticeKind.RAISED,
        Event.LAPSE: NoticeKind.ESCALATED_UNANSWERED,
        Event.REOPEN: NoticeKind.REOPENED,
    }.get(ctx.event, NoticeKind.ESCALATED_BY_RAISER)
    ctx.notify(kind, BOTH, plan.due_at, effect.level)


def _close_stage(ctx: Context, effect: Effect) -> None:
    stage = ctx.stage
    stage.ended_at = ctx.now
    stage.end_reason = ctx.event.value
    if ctx.event in (Event.ESCALATE, Event.LAPSE):
        stage.escalated_at = ctx.now
        stage.escalated_by = ctx.who
        stage.escalation_reason = ctx.args["reason"]
        stage.escalation_kind = "unanswered" if ctx.event is Event.LAPSE else "raiser"
        ctx.actions.append(f"Level {stage.level} closed: escalated ({stage.escalation_kind})")
    store.cancel_pending(ctx.session, ctx.challenge.id, ctx.now, batch=ctx.batch)


def _record_ack(ctx: Context, effect: Effect) -> None:
    stage = ctx.stage
    stage.acknowledged_at, stage.acknowledged_by = ctx.now, ctx.who
    store.cancel_pending(
        ctx.session,
        ctx.challenge.id,
        ctx.now,
        [DeadlineKind.ACKNOWLEDGEMENT_DUE.value],
        ctx.batch,
    )
    ctx.actions.append(f"Acknowledged by {ctx.who}")
    ctx.impacts.append(f"response still due by {ctx.when(stage.due_at)}")
    ctx.notify(NoticeKind.ACKNOWLEDGED, (Audience.RAISER,), stage.due_at)


def _record_response(ctx: Context, effect: Effect) -> None:
    stage = ctx.stage
    stage.responded_at, stage.responded_by = ctx.now, ctx.who
    stage.response_kind = ctx.args["kind"]
    stage.response_summary = ctx.args["summary"]
    stage.actions = list(ctx.args.get("actions", []))
    store.cancel_pending(ctx.session, ctx.challenge.id, ctx.now, batch=ctx.batch)
    reminder = planner.raiser_reminder(ctx.protocol, ctx.now)
    add_deadlines(ctx, [reminder], stage)
    ctx.actions.append(
        f"Response recorded: decision {stage.response_kind.replace('_', ' ')}"
        + (f"; {len(stage.actions)} action(s) agreed" if stage.actions else "")
    )
    ctx.impacts.append("the raiser now accepts or escalates")
    ctx.notify(NoticeKind.RESPONSE_RECEIVED, (Audience.RAISER,), reminder.due_at)


def _pause_clock(ctx: Context, effect: Effect) -> None:
    stage = ctx.stage
    assert stage.due_at is not None
    remaining = planner.remaining_business_time(ctx.protocol, ctx.now, stage.due_at)
    stage.paused_at = ctx.now
    stage.paused_remaining_seconds = int(remaining.total_seconds())
    store.cancel_pending(ctx.session, ctx.challenge.id, ctx.now, batch=ctx.batch)
    ctx.actions.append(
        f"Clock paused (requested by {ctx.args['requested_by']}, agreed by {ctx.args['agreed_by']})"
    )
    ctx.impacts.append(f"{_hours(remaining)} of business time remain when it resumes")
    ctx.notify(NoticeKind.PAUSED, BOTH)


def _resume_clock(ctx: Context, effect: Effect) -> None:
    stage = ctx.stage
    remaining = timedelta(seconds=stage.paused_remaining_seconds or 0)
    stage.due_at = planner.resumed_due(ctx.protocol, ctx.now, remaining)
    stage.paused_at, stage.paused_remaining_seconds = None, None
    _replan(ctx, stage, reset_acknowledgement=True)
    ctx.actions.append("Clock resumed")
    ctx.impacts.append(f"response now due by {ctx.when(stage.due_at)}")
    ctx.notify(NoticeKind.RESUMED, BOTH, stage.due_at)


def _extend_due(ctx: Context, effect: Effect) -> None:
    stage = ctx.stage
    still_running = ctx.challenge.state.endswith("awaiting_response")
    stage.due_at = planner.extended_due(
        ctx.protocol, ctx.args["until"], ctx.now, stage.due_at if still_running else None
    )
    _replan(ctx, stage, reset_acknowledgement=False)
    ctx.actions.append(
        f"Deadline extended (requested by {ctx.args['requested_by']}, "
        f"agreed by {ctx.args['agreed_by']})"
    )
    ctx.impacts.append(f"response now due by {ctx.when(stage.due_at)}")
    ctx.notify(NoticeKind.EXTENDED, BOTH, stage.due_at)


def _replan(ctx: Context, stage: Stage, reset_acknowledgement: bool) -> None:
    assert stage.due_at is not None
    store.cancel_pending(ctx.session, ctx.challenge.id, ctx.now, batch=ctx.batch)
    planned = planner.response_deadlines(
        ctx.protocol, stage.level, ctx.challenge.urgent, ctx.now, stage.due_at
    )
    if stage.acknowledged_at is None:
        if reset_acknowledgement:
            ack = ctx.protocol.level(stage.level).timescales(ctx.challenge.urgent).acknowledge_due
            stage.acknowledge_due_at = ctx.protocol.calendar().due_after(ctx.now, ack)
        if stage.acknowledge_due_at and ctx.now < stage.acknowledge_due_at < stage.due_at:
            planned.insert(
                0,
                Planned(
                    DeadlineKind.ACKNOWLEDGEMENT_DUE,
                    stage.acknowledge_due_at,
                    stage.due_at,
                    "not acknowledged since the clock resumed",
                ),
            )
    add_deadlines(ctx, planned, stage)


def _mark_overdue(ctx: Context, effect: Effect) -> None:
    stage = ctx.stage
    add_deadlines(ctx, planner.overdue_reminders(ctx.protocol, stage.level, ctx.now), stage)
    ctx.actions.append(f"No response by {ctx.when(stage.due_at)}: level {stage.level} is overdue")
    ctx.impacts.append("stays at this level; overdue reminders follow and partnership leads see it")
    ctx.notify(NoticeKind.OVERDUE, (*BOTH, Audience.PARTNERSHIP))


def _prompt_raiser(ctx: Context, effect: Effect) -> None:
    stage = ctx.stage
    reminder = planner.raiser_reminder(ctx.protocol, ctx.now)
    follow_up = planner.lapse_follow_up(ctx.protocol, stage.level, ctx.now)
    # A reminder to decide at or after the moment the protocol decides would contradict it.
    reminders = [reminder] if not follow_up or reminder.due_at < follow_up[0].due_at else []
    add_deadlines(ctx, [*reminders, *follow_up], stage)
    ctx.actions.append(
        f"No response by {ctx.when(stage.due_at)}: raiser and manager asked to confirm escalation"
    )
    rule = ctx.protocol.level(stage.level).lapse_follow_up
    if rule is None:
        ctx.impacts.append("waits for the raiser to escalate, extend or resolve")
    else:
        then = "it rises a level" if rule.action is FollowUp.ESCALATE else "the partnership is told"
        ctx.impacts.append(
            f"waits for the raiser to escalate, extend or resolve; if nobody has by "
            f"{ctx.when(follow_up[0].due_at)}, {then}"
        )
    decide_by = follow_up[0].due_at if follow_up else None
    ctx.notify(NoticeKind.LAPSE_PROMPT, (Audience.RAISER, Audience.RAISER_MANAGER), decide_by)


def _record_resolution(ctx: Context, effect: Effect) -> None:
    challenge = ctx.challenge
    challenge.resolved_at, challenge.resolved_by = ctx.now, ctx.who
    challenge.resolved_level = challenge.level
    challenge.outcome = ctx.args["outcome"]
    challenge.outcome_statement = ctx.args["statement"]
    challenge.life_improvement = ctx.args["life_improvement"]
    challenge.recorded_on_both_files = ctx.args.get("recorded_on_both_files")
    check = planner.outcome_check(ctx.protocol, ctx.now)
    ctx.actions.append(
        f"Resolved at level {challenge.level}: {challenge.outcome.replace('_', ' ')}"
    )
    ctx.impacts.append(
        f"how life will improve for the child recorded; outcome check on {ctx.when(check.due_at)}"
    )
    ctx.notify(NoticeKind.RESOLVED, (*BOTH, Audience.PARTNERSHIP))
    ctx.session.flush()
    add_deadlines(ctx, [check])


def _record_withdrawal(ctx: Context, effect: Effect) -> None:
    ctx.challenge.withdrawn_at = ctx.now
    ctx.challenge.withdrawn_reason = ctx.args["reason"]
    store.cancel_pending(ctx.session, ctx.challenge.id, ctx.now, batch=ctx.batch)
    ctx.actions.append("Withdrawn by the raiser")
    ctx.impacts.append("no further action under the protocol")
    ctx.notify(NoticeKind.WITHDRAWN, BOTH)


def _ask_outcome(ctx: Context, effect: Effect) -> None:
    follow_up = planner.outcome_follow_up(ctx.protocol, ctx.now)
    add_deadlines(ctx, follow_up)
    ctx.actions.append("Raiser asked: has the child's situation improved?")
    ctx.impacts.append(f"answer wanted by {ctx.when(follow_up[0].due_at)}")
    ctx.notify(
        NoticeKind.OUTCOME_CHECK,
        (Audience.RAISER,),
        follow_up[0].due_at,
        ctx.challenge.resolved_level,
    )


def _record_outcome_answer(ctx: Context, effect: Effect) -> None:
    improved = bool(ctx.args["improved"])
    ctx.challenge.outcome_improved, ctx.challenge.outcome_answered_at = improved, ctx.now
    kinds = [k.value for k in OUTCOME_KINDS]
    store.cancel_pending(ctx.session, ctx.challenge.id, ctx.now, kinds, ctx.batch)
    ctx.actions.append(
        "Outcome check answered: the child's situation "
        + ("has improved" if improved else "has NOT improved")
    )
    if not improved:
        add_deadlines(ctx, [planner.raiser_reminder(ctx.protocol, ctx.now)])
        ctx.impacts.append("the raiser may reopen, escalate or close")


def _close_case(ctx: Context, effect: Effect) -> None:
    ctx.challenge.closed_at = ctx.now
    ctx.challenge.closed_reason = ctx.args["closed_reason"]
    store.cancel_pending(ctx.session, ctx.challenge.id, ctx.now, batch=ctx.batch)
    ctx.actions.append(f"Closed: {ctx.args['closed_reason']}")
    ctx.notify(NoticeKind.CLOSED, BOTH, level=ctx.challenge.resolved_level)


def _reopen_case(ctx: Context, effect: Effect) -> None:
    challenge = ctx.challenge
    ctx.actions.append(f"Reopened after resolution at level {challenge.resolved_level}")
    for name in (
        "resolved_at",
        "resolved_by",
        "resolved_level",
        "outcome",
        "outcome_statement",
        "life_improvement",
        "recorded_on_both_files",
        "outcome_improved",
        "outcome_answered_at",
    ):
        setattr(challenge, name, None)


def _hours(amount: timedelta) -> str:
    hours, rest = divmod(int(amount.total_seconds()) // 60, 60)
    return f"{hours}h{rest:02d}"


HANDLERS: dict[EffectKind, Callable[[Context, Effect], None]] = {
    EffectKind.OPEN_STAGE: _open_stage,
    EffectKind.CLOSE_STAGE: _close_stage,
    EffectKind.RECORD_ACK: _record_ack,
    EffectKind.RECORD_RESPONSE: _record_response,
    EffectKind.PAUSE_CLOCK: _pause_clock,
    EffectKind.RESUME_CLOCK: _resume_clock,
    EffectKind.EXTEND_DUE: _extend_due,
    EffectKind.MARK_OVERDUE: _mark_overdue,
    EffectKind.PROMPT_RAISER: _prompt_raiser,
    EffectKind.RECORD_RESOLUTION: _record_resolution,
    EffectKind.RECORD_WITHDRAWAL: _record_withdrawal,
    EffectKind.ASK_OUTCOME: _ask_outcome,
    EffectKind.RECORD_OUTCOME_ANSWER: _record_outcome_answer,
    EffectKind.CLOSE_CASE: _close_case,
    EffectKind.REOPEN_CASE: _reopen_case,
}
