"""Tests of `escalation.cli`."""
