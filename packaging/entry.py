"""PyInstaller entry script for the one-file `logspool` binary.

The same thing as the `logspool = agent.cli:main` console script: PyInstaller needs a
script, not an entry point. Keep it this small; everything lives in agent.cli.
"""
import sys

from agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
