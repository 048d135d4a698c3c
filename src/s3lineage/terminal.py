"""Small helpers for what the CLI shows on a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def progress_printer(verb: str, unit: str) -> Callable[[str, int], None]:
    """A callback that rewrites one stderr line at most five times a second:
    ``<verb> <where>: <count> <unit>``."""
    last = [0.0]

    def show(where: str, count: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.2:
            last[0] = now
            sys.stderr.write(f"\r\033[K{verb} {where}: {count:,} {unit}")
            sys.stderr.flush()

    return show
