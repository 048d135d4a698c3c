"""CLI for the exports: ``report`` (HTML and the other formats) and ``openlineage``."""

from __future__ import annotations

from typing import Any


def register(sub: Any, opened: Any, decisions: Any, write: Any, graph_source: Any) -> None:
    """Add ``report`` and ``openlineage``."""
