"""Tests of `escalation.reports`."""
