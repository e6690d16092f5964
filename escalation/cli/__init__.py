"""The `escalation` command line: `main` (the group and the list of commands), `app` (what every
command shares), one module per command group.

May import every part, but only once a command runs, so `escalation --help` imports no ORM,
Alembic, matplotlib, FastAPI or aiosmtplib.
"""
