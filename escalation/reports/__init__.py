"""The partnership report: its queries, figures, tables and cells, the publishable rule and its
statistics, the four output formats and the charts.

Imports `rules` and `casework`; its SQL is in `reports.queries` and `reports.queries_dates`;
never `mail`, `web` or `cli`.
"""
