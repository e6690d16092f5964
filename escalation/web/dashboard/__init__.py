"""The partnership dashboard and its report pages.

Part of `web`; its figures come from `reports`.
"""
