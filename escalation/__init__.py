"""escalation: the Case Resolution Protocol escalation engine for Safeguarding Children
Partnerships."""

__version__ = "0.1.0"
