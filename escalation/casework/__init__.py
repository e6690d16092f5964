"""The record: the database and its models, the store (all its SQL), the use cases (service), their
effects and notices, intake, the directory, views and the sweep.

Imports `rules`; never `mail`, `reports`, `web` or `cli`: notices leave through the `Notifier` it
is given.
"""
