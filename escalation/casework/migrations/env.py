"""Alembic environment: runs migrations on the engine handed over by `escalation.casework.db`."""

from alembic import context

from escalation.casework import models  # noqa: F401 (registers every table on Base.metadata)
from escalation.casework.base import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    from escalation.casework.db import make_engine
    from escalation.config import Settings

    engine = make_engine(Settings.from_env().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
