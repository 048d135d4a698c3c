"""The ``[atlan]`` section of lineage.toml (validated here, stored in ``Config.sections``).

Connections are named, never given as qualified names: their ``default/<connector>/<epoch>``
QNs are looked up through the SDK at publish time. The base URL and API key are not
configuration: they come only from ``ATLAN_BASE_URL`` / ``ATLAN_API_KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3lineage.errors import ConfigError

COLUMN_MODES = ("partial_fields", "direct")

_KEYS = {
    "s3_connection", "lineage_connection", "column_mode", "include_unloads",
    "include_snowflake_internal", "batch_size", "max_retries", "retry_backoff_seconds",
    "publish_on_infer",
}


@dataclass(frozen=True, slots=True)
class AtlanSettings:
    """Where and how s3lineage publishes to Atlan."""

    s3_connection: str
    """Name of the S3 connection where buckets and objects live (reused if crawled)."""
    lineage_connection: str
    """Name of the connection that owns every process s3lineage writes."""
    column_mode: str = "partial_fields"
    """``partial_fields``: PG column → PartialField (under the S3Object) → SF column;
    ``direct``: PG column → SF column through an end-to-end process."""
    include_unloads: bool = True
    """Publish Snowflake → S3 unloads."""
    include_snowflake_internal: bool = False
    """Publish Snowflake → Snowflake transforms (Atlan mines those itself)."""
    batch_size: int = 20
    """Assets per bulk request."""
    max_retries: int = 3
    """Rounds of retry *after* pyatlan's own retries gave up on a 429/5xx."""
    retry_backoff_seconds: float = 2.0
    """Base of the exponential backoff between those rounds."""
    publish_on_infer: bool = True
    """Whether ``s3lineage infer`` (not a dry run) publishes after committing state."""


def parse_atlan(raw: dict[str, Any], path: Path) -> AtlanSettings:
    """Validate the ``[atlan]`` table; unknown keys are rejected by name."""
    where = f"{path}: [atlan]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        hint = ""
        if {"api_key", "base_url"} & set(unknown):
            hint = " (the base URL and API key come only from ATLAN_BASE_URL / ATLAN_API_KEY)"
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}{hint}")
    for key in ("s3_connection", "lineage_connection"):
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}.{key} is required: the name of an Atlan connection")
    mode = raw.get("column_mode", "partial_fields")
    if mode not in COLUMN_MODES:
        raise ConfigError(f"{where}.column_mode must be one of {list(COLUMN_MODES)}, not {mode!r}")
    for key in ("include_unloads", "include_snowflake_internal", "publish_on_infer"):
        if key in raw and not isinstance(raw[key], bool):
            raise ConfigError(f"{where}.{key} must be true or false")
    batch_size = raw.get("batch_size", 20)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= 1000:
        raise ConfigError(f"{where}.batch_size must be an integer between 1 and 1000")
    max_retries = raw.get("max_retries", 3)
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or not 0 <= max_retries <= 20:
        raise ConfigError(f"{where}.max_retries must be an integer between 0 and 20")
    backoff = raw.get("retry_backoff_seconds", 2.0)
    if not isinstance(backoff, (int, float)) or isinstance(backoff, bool) or not 0 <= backoff <= 600:
        raise ConfigError(f"{where}.retry_backoff_seconds must be a number between 0 and 600")
    return AtlanSettings(
        s3_connection=raw["s3_connection"].strip(),
        lineage_connection=raw["lineage_connection"].strip(),
        column_mode=mode,
        include_unloads=raw.get("include_unloads", True),
        include_snowflake_internal=raw.get("include_snowflake_internal", False),
        batch_size=batch_size,
        max_retries=max_retries,
        retry_backoff_seconds=float(backoff),
        publish_on_infer=raw.get("publish_on_infer", True),
    )
