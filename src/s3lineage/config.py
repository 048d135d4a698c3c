"""lineage.toml: what to read and how to fold it.

Paths are relative to the config file; globs are expanded; unknown keys and missing
files are rejected with a message naming the key or path. See docs/configuration.md.
"""

from __future__ import annotations

import glob
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3lineage.errors import ConfigError
from s3lineage.model import Dialect

_POSTGRES_KEYS = {
    "kind", "name", "namespace", "database", "log_files", "log_line_prefix",
    "statements_file", "columns_file", "atlan_connection",
    # live: the password comes from the DSN, PGPASSWORD or ~/.pgpass; never logged
    "dsn", "connect_timeout",
}
_SNOWFLAKE_KEYS = {
    "kind", "name", "namespace", "query_history_file", "copy_history_file", "stages_file",
    "columns_file", "pipes_file", "atlan_connection",
    # live: SNOWFLAKE_* environment variables fill what is not set here; the password
    # (SNOWFLAKE_PASSWORD) or private key passphrase only ever come from the environment
    "account", "user", "role", "warehouse", "authenticator", "private_key_file",
    "host", "port", "protocol", "overlap_minutes", "page_size", "initial_lookback_days",
    "databases",
}
_TOP_KEYS = {"sources", "graph", "resolver", "state", "atlan", "s3"}
# Feature sections are validated by the feature that owns them ("module:function",
# called with (raw table, config path) and returning its typed settings).
_SECTION_PARSERS = {
    "atlan": "s3lineage.publish.settings:parse_atlan",
    "s3": "s3lineage.discover.settings:parse_s3",
}
_STATE_KEYS = {"path", "retention_days", "lock_timeout_seconds"}
_GRAPH_KEYS = {"fold_partitions", "fold_rules", "min_confidence"}
_RESOLVER_KEYS = {"idiom_dirs"}


@dataclass(frozen=True, slots=True)
class FoldRule:
    """A regex whose matches in an S3 key are replaced to form the dataset template."""

    pattern: re.Pattern[str]
    replace: str


@dataclass(frozen=True, slots=True)
class SourceConfig:
    kind: Dialect
    name: str
    namespace: str
    files: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    database: str | None = None
    log_line_prefix: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def paths(self, key: str) -> tuple[Path, ...]:
        return self.files.get(key, ())

    @property
    def is_live(self) -> bool:
        if self.kind is Dialect.POSTGRES:
            return "dsn" in self.settings
        return "account" in self.settings or not self.files


@dataclass(frozen=True, slots=True)
class GraphConfig:
    fold_partitions: bool = True
    fold_rules: tuple[FoldRule, ...] = ()
    min_confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class StateConfig:
    path: Path
    retention_days: float = 30.0
    lock_timeout_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    sources: tuple[SourceConfig, ...]
    graph: GraphConfig = GraphConfig()
    state: StateConfig | None = None
    sections: dict[str, Any] = field(default_factory=dict)  # parsed [atlan], [s3], …
    idiom_dirs: tuple[Path, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


_FILE_KEYS = {
    Dialect.POSTGRES: {"log_files": True, "statements_file": False, "columns_file": False},
    Dialect.SNOWFLAKE: {
        "query_history_file": False, "copy_history_file": False, "stages_file": False,
        "columns_file": False, "pipes_file": False,
    },
}


def load_config(path: str | Path) -> Config:
    """Read and validate lineage.toml."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"config file not found: {path}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config {path}: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from err
    _reject_unknown(data, _TOP_KEYS, str(path))
    base = path.resolve().parent
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ConfigError(f"{path}: at least one [[sources]] entry is required")
    sources = tuple(_source(s, i, base, path) for i, s in enumerate(raw_sources, start=1))
    names = [s.name for s in sources]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(f"{path}: source names must be unique; repeated: {sorted(duplicates)}")
    return Config(
        path=path,
        sources=sources,
        graph=_graph(data.get("graph", {}), path),
        idiom_dirs=_idiom_dirs(data.get("resolver", {}), base, path),
        state=_state(data.get("state", {}), base, path),
        sections={k: _parse_section(k, data[k], path) for k in _SECTION_PARSERS if k in data},
        raw=data,
    )


def _parse_section(name: str, raw: Any, path: Path) -> Any:
    import importlib

    module_name, _, function = _SECTION_PARSERS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{path}: [{name}] needs an optional part that is not installed ({err})") from err
    return getattr(module, function)(raw, path)


def _reject_unknown(table: Any, allowed: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _source(raw: Any, index: int, base: Path, path: Path) -> SourceConfig:
    where = f"{path}: sources[{index}]"
    if not isinstance(raw, dict) or "kind" not in raw:
        raise ConfigError(f"{where}: needs kind = \"postgres\" or \"snowflake\"")
    try:
        kind = Dialect(raw["kind"])
    except ValueError as err:
        raise ConfigError(f"{where}: kind must be \"postgres\" or \"snowflake\", not {raw['kind']!r}") from err
    _reject_unknown(raw, _POSTGRES_KEYS if kind is Dialect.POSTGRES else _SNOWFLAKE_KEYS, where)
    namespace = raw.get("namespace")
    if not namespace:
        raise ConfigError(f"{where}.namespace is required (e.g. {_example_namespace(kind)})")
    prefix = f"{kind.value}://"
    if not str(namespace).startswith(prefix):
        raise ConfigError(f"{where}.namespace must start with {prefix!r}: {namespace!r}")
    files: dict[str, tuple[Path, ...]] = {}
    for key, many in _FILE_KEYS[kind].items():
        if key in raw:
            files[key] = _expand(raw[key], many, base, f"{where}.{key}")
    settings = {k: v for k, v in raw.items() if k not in files and k not in ("kind", "namespace")}
    # A Snowflake entry without files is live: SNOWFLAKE_* variables may supply everything.
    if not files and kind is Dialect.POSTGRES and "dsn" not in settings:
        raise ConfigError(
            f"{where}: names no input files (e.g. {', '.join(_FILE_KEYS[kind])}) and no dsn"
        )
    return SourceConfig(
        kind=kind,
        name=str(raw.get("name") or f"{kind.value}-{index}"),
        namespace=str(namespace).rstrip("/"),
        files=files,
        database=raw.get("database"),
        log_line_prefix=raw.get("log_line_prefix"),
        settings=settings,
    )


def _example_namespace(kind: Dialect) -> str:
    return "postgres://pg.example.internal:5432" if kind is Dialect.POSTGRES else "snowflake://myorg-myaccount"


def _expand(value: Any, many: bool, base: Path, where: str) -> tuple[Path, ...]:
    patterns = value if isinstance(value, list) else [value]
    if not many and len(patterns) != 1:
        raise ConfigError(f"{where}: expects one path, got {len(patterns)}")
    found: list[Path] = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"{where}: paths must be non-empty strings")
        full = str(Path(pattern) if Path(pattern).is_absolute() else base / pattern)
        if glob.has_magic(full):
            matches = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
            if not matches:
                raise ConfigError(f"{where}: no file matches {pattern!r} (relative to {base})")
            found.extend(matches)
        elif not Path(full).is_file():
            raise ConfigError(f"{where}: file not found: {full}")
        else:
            found.append(Path(full))
    return tuple(found)


def _graph(raw: Any, path: Path) -> GraphConfig:
    _reject_unknown(raw, _GRAPH_KEYS, f"{path}: [graph]")
    rules = []
    for i, rule in enumerate(raw.get("fold_rules", []), start=1):
        where = f"{path}: graph.fold_rules[{i}]"
        if not isinstance(rule, dict) or set(rule) != {"pattern", "replace"}:
            raise ConfigError(f"{where}: needs exactly 'pattern' and 'replace'")
        try:
            rules.append(FoldRule(re.compile(rule["pattern"]), str(rule["replace"])))
        except re.error as err:
            raise ConfigError(f"{where}: invalid regex: {err}") from err
    min_confidence = raw.get("min_confidence", 0.0)
    if not isinstance(min_confidence, (int, float)) or not 0 <= min_confidence <= 1:
        raise ConfigError(f"{path}: graph.min_confidence must be a number in [0, 1]")
    return GraphConfig(
        fold_partitions=bool(raw.get("fold_partitions", True)),
        fold_rules=tuple(rules),
        min_confidence=float(min_confidence),
    )


def _state(raw: Any, base: Path, path: Path) -> StateConfig:
    _reject_unknown(raw, _STATE_KEYS, f"{path}: [state]")
    state_path = Path(raw.get("path", ".s3lineage/state.db"))
    for key in ("retention_days", "lock_timeout_seconds"):
        value = raw.get(key, 0)
        if not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{path}: state.{key} must be a non-negative number")
    return StateConfig(
        path=state_path if state_path.is_absolute() else base / state_path,
        retention_days=float(raw.get("retention_days", 30)),
        lock_timeout_seconds=float(raw.get("lock_timeout_seconds", 0)),
    )


def _idiom_dirs(raw: Any, base: Path, path: Path) -> tuple[Path, ...]:
    _reject_unknown(raw, _RESOLVER_KEYS, f"{path}: [resolver]")
    dirs = []
    for entry in raw.get("idiom_dirs", []):
        full = (base / entry) if not Path(entry).is_absolute() else Path(entry)
        if not full.is_dir():
            raise ConfigError(f"{path}: resolver.idiom_dirs: directory not found: {full}")
        dirs.append(full)
    return tuple(dirs)
