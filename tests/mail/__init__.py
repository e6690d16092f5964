"""Tests of `escalation.mail`."""
