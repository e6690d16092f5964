"""challenge versions index: what each command reads of the protocol versions in use

Every command that opens the record builds the pinned registry (casework.pins): it lists the
(protocol, version) pairs challenges were raised on and, where a file has drifted from its
pinned copy, counts the open challenges on that version. Without an index both read the whole
challenges table; with (protocol_id, protocol_version, state) PostgreSQL answers both from the
index alone. bench/README.md has the figures.

On PostgreSQL the index is built with a plain CREATE INDEX, which holds writes to `challenges`
while it builds (a partnership holds thousands of challenges, not millions: a moment), so run
`escalation db upgrade` before starting the upgraded service, as for every revision.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_challenges_protocol_version",
        "challenges",
        ["protocol_id", "protocol_version", "state"],
    )


def downgrade() -> None:
    op.drop_index("ix_challenges_protocol_version", table_name="challenges")
