"""``python -m gputk`` and the ``gputk`` command.

The CLI is imported inside :func:`main` so that a Ctrl-C while Python is still loading it ends
like any other interrupt (one line, exit 130), not with a traceback of the import machinery.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from gputk.cli.app import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()
