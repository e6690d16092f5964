"""`python -m escalation` runs the command-line interface."""

from escalation.cli.main import main

main()
