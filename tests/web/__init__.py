"""Tests of `escalation.web`: pages, API, access, accessibility and the browser journey."""
