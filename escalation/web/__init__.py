"""The web service: accessible GOV.UK Design System pages and a JSON API over the same service.

`app.create_app` builds the ASGI app; `escalation serve` runs it under uvicorn. Pages render on
the server (Jinja2 with the govuk-frontend-jinja macros) and work without JavaScript; every
change to a challenge goes through `escalation.casework.service`, exactly as from the command line.
Its SQL is in `web.store` (its own tables) and `web.store_challenges` (what it reads of the
record).
"""
