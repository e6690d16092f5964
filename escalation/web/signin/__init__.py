"""Signing in: the sign-in pages and the emailed sign-in link.

Part of `web`; sessions are in `web.store`.
"""
