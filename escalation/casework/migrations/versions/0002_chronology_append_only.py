"""chronology is append-only: the database refuses UPDATE and DELETE on it

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

The ORM already refuses changes to chronology entries; these triggers make the database refuse
them too, so that no script, console session or future bug can rewrite what happened.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "the chronology is append-only: entries cannot be changed or deleted"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION chronology_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$"
        )
        op.execute(
            "CREATE TRIGGER chronology_append_only BEFORE UPDATE OR DELETE ON chronology "
            "FOR EACH ROW EXECUTE FUNCTION chronology_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER chronology_no_{action.lower()} BEFORE {action} ON chronology "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER chronology_append_only ON chronology")
        op.execute("DROP FUNCTION chronology_append_only()")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER chronology_no_{action}")
