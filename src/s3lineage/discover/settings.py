"""The ``[s3]`` section of lineage.toml (validated here, stored in ``Config.sections["s3"]``).

Which buckets (and prefixes) to inventory, how to reach them, and the thresholds of the
reconciliation checks. Credentials are never configuration: boto3's standard chain
(environment, shared config/credentials files and ``profile``, SSO, container/instance
roles) supplies them, and nothing here logs them.

>>> s = parse_s3({"buckets": ["fintech-lake/exports/", {"name": "raw", "prefixes": ["a/"]}]},
...              Path("lineage.toml"))
>>> [(b.name, b.prefixes) for b in s.buckets]
[('fintech-lake', ('exports/',)), ('raw', ('a/',))]
>>> s.covers("fintech-lake", "exports/users.csv"), s.covers("fintech-lake", "tmp/x")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3lineage.errors import ConfigError

SCAN_MODES = ("auto", "always", "never")

_KEYS = {
    "buckets", "region", "endpoint_url", "profile", "local_root", "freshness_hours",
    "load_window_hours", "schema_samples", "max_members", "scan_on_run", "sqs_queue_url",
}
_SECRET_HINT = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                "access_key", "secret_key", "session_token", "credentials"}


@dataclass(frozen=True, slots=True)
class BucketScope:
    """One bucket and the key prefixes of it to inventory (``("",)``: all of it)."""

    name: str
    prefixes: tuple[str, ...] = ("",)

    def covers(self, key: str) -> bool:
        return any(key.startswith(p) for p in self.prefixes)


@dataclass(frozen=True, slots=True)
class S3Settings:
    """What ``discover-s3``, enrichment and the event handler read, and their thresholds."""

    buckets: tuple[BucketScope, ...]
    """Buckets (with optional prefixes) whose objects are inventoried."""
    region: str | None = None
    """AWS region of the client (default: the standard chain's)."""
    endpoint_url: str | None = None
    """S3-compatible endpoint (MinIO, Ceph, a test server)."""
    profile: str | None = None
    """A named profile of the shared AWS config (the credentials stay in that file)."""
    local_root: Path | None = None
    """Offline mirror: ``<local_root>/<bucket>/<key>`` files stand in for the buckets."""
    freshness_hours: float | None = None
    """A dataset whose newest object is older than this is reported stale (unset: off)."""
    load_window_hours: float = 24.0
    """Data written but not loaded within this window is reported."""
    schema_samples: int = 5
    """Objects per dataset whose schema a scan reads (newest first, plus the oldest)."""
    max_members: int = 200
    """Objects kept as members of a dataset in the graph (the newest; counts stay exact)."""
    scan_on_run: str = "auto"
    """Scheduled runs: ``auto`` lists a bucket/prefix never inventoried, ``always`` every
    run, ``never`` (discover-s3 and events keep the inventory). Dry runs always list."""
    sqs_queue_url: str | None = None
    """Default queue of ``s3lineage watch``."""

    def scope(self, bucket: str) -> BucketScope | None:
        return next((b for b in self.buckets if b.name == bucket), None)

    def covers(self, bucket: str, key: str) -> bool:
        scope = self.scope(bucket)
        return scope is not None and scope.covers(key)


def parse_s3(raw: dict[str, Any], path: Path) -> S3Settings:
    """Validate the ``[s3]`` table; unknown keys are rejected by name."""
    where = f"{path}: [s3]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        hint = ""
        if _SECRET_HINT & {u.lower() for u in unknown}:
            hint = (" (credentials never go in the config: boto3's standard chain supplies them"
                    " — environment, ~/.aws files with `profile`, SSO or an instance role)")
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}{hint}")
    buckets = _buckets(raw.get("buckets"), where)
    for key in ("region", "endpoint_url", "profile", "sqs_queue_url"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            raise ConfigError(f"{where}.{key} must be a non-empty string")
    endpoint = raw.get("endpoint_url")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.endpoint_url must start with http:// or https://: {endpoint!r}")
    local_root = None
    if "local_root" in raw:
        if not isinstance(raw["local_root"], str):
            raise ConfigError(f"{where}.local_root must be a path")
        local_root = (path.resolve().parent / raw["local_root"]).resolve()
        if not local_root.is_dir():
            raise ConfigError(f"{where}.local_root is not a directory: {local_root}")
    scan = raw.get("scan_on_run", "auto")
    if scan not in SCAN_MODES:
        raise ConfigError(f"{where}.scan_on_run must be one of {list(SCAN_MODES)}, not {scan!r}")
    return S3Settings(
        buckets=buckets,
        region=raw.get("region"),
        endpoint_url=endpoint,
        profile=raw.get("profile"),
        local_root=local_root,
        freshness_hours=_number(raw, "freshness_hours", None, where),
        load_window_hours=_number(raw, "load_window_hours", 24.0, where) or 24.0,
        schema_samples=_integer(raw, "schema_samples", 5, 1, 1000, where),
        max_members=_integer(raw, "max_members", 200, 1, 1_000_000, where),
        scan_on_run=scan,
        sqs_queue_url=raw.get("sqs_queue_url"),
    )


def _buckets(value: Any, where: str) -> tuple[BucketScope, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f'{where}.buckets is required: e.g. ["my-bucket", "other/prefix/"] or '
                          '[{ name = "my-bucket", prefixes = ["exports/"] }]')
    merged: dict[str, list[str]] = {}
    name: Any
    for index, item in enumerate(value, start=1):
        if isinstance(item, str):
            text = item.strip().removeprefix("s3://")
            name, _, prefix = text.partition("/")
            prefixes = [prefix]
        elif isinstance(item, dict):
            extra = sorted(set(item) - {"name", "prefixes"})
            if extra:
                raise ConfigError(f"{where}.buckets[{index}]: unknown key(s) {extra}; "
                                  "allowed: ['name', 'prefixes']")
            name = item.get("name")
            prefixes = item.get("prefixes", [""])
            if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
                raise ConfigError(f"{where}.buckets[{index}].prefixes must be a list of strings")
            prefixes = prefixes or [""]
        else:
            raise ConfigError(f"{where}.buckets[{index}] must be a string or a table")
        if not isinstance(name, str) or not name or "/" in name:
            raise ConfigError(f"{where}.buckets[{index}] needs a bucket name, got {item!r}")
        merged.setdefault(name, []).extend(p.lstrip("/") for p in prefixes)
    scopes = []
    for name, prefixes in merged.items():
        unique = sorted(set(prefixes))
        if "" in unique:
            unique = [""]
        # a prefix inside another one adds nothing (and would list its keys twice)
        kept = tuple(p for p in unique if not any(p != q and p.startswith(q) for q in unique))
        scopes.append(BucketScope(name, kept))
    return tuple(scopes)


def _number(raw: dict[str, Any], key: str, default: float | None, where: str) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{where}.{key} must be a positive number of hours")
    return float(value)


def _integer(raw: dict[str, Any], key: str, default: int, low: int, high: int, where: str) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{where}.{key} must be an integer between {low} and {high}")
    return value
