"""The JSON API: its routes (reading and raising), its event endpoints, what they share, and
their request and response models.

Part of `web`; writes only through `casework.service`.
"""
