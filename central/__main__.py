"""``python -m central``: the central commands without the device CLI."""

from __future__ import annotations

import sys

from central.cli import main

if __name__ == "__main__":
    sys.exit(main())
