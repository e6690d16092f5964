"""A challenge's page and the forms that move it on (respond, escalate, resolve and the rest).

Part of `web`; writes only through `casework.service`.
"""
