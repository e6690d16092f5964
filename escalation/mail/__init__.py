"""Notices to emails: recipients, links, the outbox, templates and layout, the MIME builder, SMTP,
dispatch and the daily digest.

Imports `rules` and `casework`; its own SQL is in `mail.store`; never `reports`, `web` or `cli`.
"""
