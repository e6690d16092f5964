"""Raising a challenge on the web: the question pages, their checking and what they show.

Part of `web`; writes only through `casework.service`.
"""
