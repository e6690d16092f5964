"""The partnership report: its queries, tables and cells, the publishable rule and its statistics,
the four output formats and the charts.

Imports `rules` and `casework`; its SQL is in `reports.queries`; never `mail`, `web` or `cli`.
"""
