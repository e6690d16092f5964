"""Tests of `escalation.casework`."""
