"""The `escalation` command line: `main` (the group and the list of commands), `app` (what every
command shares), `choices` (the values options offer), and one module per kind of work: `setup`
(schema, protocol files, `due`), `directory`, `events` (a challenge's life), `mail`, `worker`
(the worker, and its passes for cron), `report`, `web` and `demo`.

May import every part, but only once a command runs, so `escalation --help` imports no ORM,
Alembic, matplotlib, FastAPI or aiosmtplib (tests/cli/test_cli_startup.py, bench/cli_startup.py).
Only `main` imports the command modules; none imports `main`.
"""
