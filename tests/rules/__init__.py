"""Tests of `escalation.rules`."""
