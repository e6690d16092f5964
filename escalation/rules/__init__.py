"""The rules: working days and UK date wording, the protocol (model, reading, checks, description,
registry), the state machine and the deadline planner.

Pure: imports only `escalation.errors`, `escalation.resources` (where the shipped files are) and
libraries that do no I/O (no SQLAlchemy, SMTP, scheduler or web framework); reads no clock and no
environment.
"""
