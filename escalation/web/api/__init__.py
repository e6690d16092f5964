"""The JSON API: its routes and their request and response models.

Part of `web`; writes only through `casework.service`.
"""
