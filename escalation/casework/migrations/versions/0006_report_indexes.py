"""report indexes: the partnership report reads narrow indexes instead of whole tables

Every query of the report (`reports.queries`) filters by partnership and an instant of the
period, or joins stages and chronology entries to their challenges. Without these indexes each
one read the whole of its table (challenges, stages, the chronology): over 1,000,000 challenges
the yearly report for every partnership took 7.5 s on PostgreSQL, 4.2 s with them. Each index
holds the columns one query reads, so PostgreSQL answers it with an index-only scan; the partial
ones hold only rows that can match (resolved, withdrawn, closed, escalated, open levels,
outcome-check answers), so writing any other row costs them nothing. bench/README.md has the
figures, query by query.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIALECTS = ("postgresql", "sqlite")  # both build the partial indexes
# (name, table, columns, partial-index condition or None); the same as in models.py.
INDEXES: tuple[tuple[str, str, tuple[str, ...], str | None], ...] = (
    (
        "ix_challenges_report_raised",
        "challenges",
        (
            "raised_at",
            "partnership",
            "raising_org_id",
            "responding_org_id",
            "responding_team",
            "category",
            "need_raiser_view",
            "need_decision",
        ),
        None,
    ),
    ("ix_challenges_report_child", "challenges", ("partnership", "child_ref", "raised_at"), None),
    (
        "ix_challenges_report_resolved",
        "challenges",
        ("partnership", "resolved_at", "resolved_level", "raised_at", "outcome"),
        "resolved_at IS NOT NULL",
    ),
    (
        "ix_challenges_report_withdrawn",
        "challenges",
        ("partnership", "withdrawn_at"),
        "withdrawn_at IS NOT NULL",
    ),
    (
        "ix_challenges_report_closed",
        "challenges",
        ("partnership", "closed_reason", "closed_at"),
        "closed_at IS NOT NULL",
    ),
    (
        "ix_challenges_report_join",
        "challenges",
        ("id", "partnership", "responding_org_id", "outcome_improved", "outcome_answered_at"),
        None,
    ),
    ("ix_stages_open", "stages", ("challenge_id", "due_at"), "ended_at IS NULL"),
    (
        "ix_stages_report",
        "stages",
        (
            "challenge_id",
            "opened_at",
            "acknowledged_at",
            "responded_at",
            "acknowledge_due_at",
            "due_at",
            "paused_at",
            "ended_at",
        ),
        None,
    ),
    (
        "ix_stages_escalated",
        "stages",
        ("challenge_id", "escalated_at", "escalation_kind"),
        "escalated_at IS NOT NULL",
    ),
    (
        "ix_chronology_outcome",
        "chronology",
        ("challenge_id", "occurred_at"),
        "event = 'outcome'",
    ),
)


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        condition: dict[str, Any] = {}
        if where is not None:
            condition = {f"{dialect}_where": sa.text(where) for dialect in DIALECTS}
        op.create_index(name, table, list(columns), **condition)


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
