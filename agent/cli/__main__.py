"""`python -m agent.cli` runs the `logspool` command (used when it is not on PATH)."""
import sys

from agent.cli import main

sys.exit(main())
