"""Find the Atlan assets behind the graph's Postgres and Snowflake tables and columns.

Nothing here builds a qualified name from strings. Connections are looked up by name (and
connector), tables by name *inside that exact connection* (so a staging connection with the
same table names is never picked), and columns by their parent's real qualified name. The
result carries each asset's real type (``Table``, ``View``, ``MaterialisedView``,
``SnowflakeDynamicTable``) and exact-case qualified name, which is what a lineage reference
must use. What cannot be found becomes a diagnostic, never an exception.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from s3lineage.config import Config, SourceConfig
from s3lineage.graph.model import DatasetNode
from s3lineage.publish.client import AtlanCalls, PublishError

TABLE_TYPES = ("Table", "View", "MaterialisedView", "SnowflakeDynamicTable")
_CHUNK = 100  # names / qualified names per search clause list


@dataclass(slots=True)
class TableEndpoint:
    """A resolved table-like asset and its columns (graph field name → column QN)."""

    dataset_id: str
    type_name: str
    qualified_name: str
    columns: dict[str, str] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Endpoints:
    tables: dict[str, TableEndpoint] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # dataset id -> why
    connections: dict[str, str] = field(default_factory=dict)  # "connector/name" -> QN


def find_connection(calls: AtlanCalls, name: str, connector: str | None = None) -> str:
    """The qualified name of the ACTIVE connection called ``name`` (of ``connector``).

    ``name`` may be written ``connector/name`` to pick among same-named connections.
    """
    from pyatlan.model.assets import Connection
    from pyatlan.model.fluent_search import FluentSearch

    if connector is None and "/" in name:
        connector, name = name.split("/", 1)

    def build() -> Any:
        search = (FluentSearch()
                  .where(FluentSearch.asset_type(Connection))
                  .where(FluentSearch.active_assets())
                  .where(Connection.NAME.eq(name))
                  .include_on_results(Connection.CONNECTOR_NAME))
        if connector:
            search = search.where(Connection.CONNECTOR_NAME.eq(connector))
        return search

    found = calls.search(f"find connection {name!r}", build)
    label = f"{connector}/{name}" if connector else name
    if not found:
        raise PublishError(f"no active Atlan connection named {label!r}; check the name in lineage.toml "
                           "(it is the connection's display name in Atlan)")
    if len(found) > 1:
        options = ", ".join(sorted(f"{c.connector_name}/{c.name} ({c.qualified_name})" for c in found))
        raise PublishError(f"{len(found)} Atlan connections are named {label!r}: {options}; "
                           "write it as \"connector/name\"")
    return str(found[0].qualified_name)


def source_for(config: Config, namespace: str) -> SourceConfig | None:
    for source in config.sources:
        if source.namespace == namespace:
            return source
    return None


def resolve_tables(calls: AtlanCalls, config: Config, nodes: Iterable[DatasetNode],
                   connections: dict[str, str] | None = None) -> Endpoints:
    """Resolve every table dataset (and its fields as columns) to Atlan assets."""
    result = Endpoints(connections=dict(connections or {}))
    by_connection: dict[str, list[DatasetNode]] = defaultdict(list)
    for node in nodes:
        source = source_for(config, node.ref.namespace)
        if source is None:
            result.missing[node.id] = f"no [[sources]] entry has namespace {node.ref.namespace!r}"
            continue
        name = source.settings.get("atlan_connection")
        if not name:
            result.missing[node.id] = (f"source {source.name!r} has no atlan_connection: "
                                       "its tables cannot be found in Atlan")
            continue
        key = f"{source.kind.value}/{name}"
        if key not in result.connections:
            try:
                result.connections[key] = find_connection(calls, str(name), source.kind.value)
            except PublishError as err:
                result.connections[key] = ""
                result.missing[node.id] = str(err)
                continue
        if not result.connections[key]:
            result.missing[node.id] = f"Atlan connection {key!r} was not found"
            continue
        by_connection[result.connections[key]].append(node)
    for connection_qn, group in by_connection.items():
        _resolve_in_connection(calls, connection_qn, group, result)
    return result


def _candidates(name: str) -> set[str]:
    """Table names to search for: the last dotted part (and the rest after db.schema)."""
    parts = name.split(".")
    names = {parts[-1]}
    if len(parts) > 3:
        names.add(".".join(parts[2:]))
    return names


def _resolve_in_connection(calls: AtlanCalls, connection_qn: str, nodes: list[DatasetNode],
                           result: Endpoints) -> None:
    from pyatlan.model.assets import Table
    from pyatlan.model.fluent_search import CompoundQuery, FluentSearch

    names = sorted({c for node in nodes for c in _candidates(node.ref.name)})
    found: list[Any] = []
    for start in range(0, len(names), _CHUNK):
        chunk = names[start:start + _CHUNK]

        def build(chunk: list[str] = chunk) -> Any:
            search = (FluentSearch()
                      .where(FluentSearch.active_assets())
                      .where(CompoundQuery.asset_types([_asset_class(t) for t in TABLE_TYPES]))
                      .where(Table.CONNECTION_QUALIFIED_NAME.eq(connection_qn))
                      .include_on_results(Table.DATABASE_NAME)
                      .include_on_results(Table.SCHEMA_NAME)
                      .include_on_results(Table.CONNECTION_QUALIFIED_NAME)
                      .page_size(100))
            for name in chunk:  # case-insensitive: the exact-case match is preferred below
                search = search.where_some(Table.NAME.eq(name, case_insensitive=True))
            return search.min_somes(1)

        found.extend(calls.search(f"tables in {connection_qn}", build))
    # the connection filter is the search's; checking again costs nothing and keeps a
    # too-lenient server from ever handing us another connection's table
    found = [a for a in found if a.connection_qualified_name == connection_qn]
    for node in nodes:
        match, why = _pick(node.ref.name, found)
        if match is None:
            result.missing[node.id] = f"{why} in Atlan connection {connection_qn}"
            continue
        result.tables[node.id] = TableEndpoint(node.id, match.type_name, str(match.qualified_name))
    _resolve_columns(calls, connection_qn, [n for n in nodes if n.id in result.tables], result)


def _full_name(asset: Any) -> str:
    return ".".join(p for p in (asset.database_name, asset.schema_name, asset.name) if p)


def _pick(name: str, found: list[Any]) -> tuple[Any | None, str]:
    exact = [a for a in found if _full_name(a) == name]
    if len(exact) == 1:
        return exact[0], ""
    if len(exact) > 1:
        return None, f"table {name} is ambiguous ({', '.join(sorted(a.type_name for a in exact))})"
    loose = [a for a in found if _full_name(a).lower() == name.lower()]
    if len(loose) == 1:
        return loose[0], ""
    if len(loose) > 1:
        return None, f"table {name} matches {len(loose)} assets that differ only in case"
    return None, f"table {name} not found"


def _resolve_columns(calls: AtlanCalls, connection_qn: str, nodes: list[DatasetNode],
                     result: Endpoints) -> None:
    from pyatlan.model.assets import Column
    from pyatlan.model.fluent_search import FluentSearch

    parents = sorted(result.tables[n.id].qualified_name for n in nodes)
    columns: dict[str, list[tuple[str, str]]] = defaultdict(list)  # parent QN -> (name, QN)
    for start in range(0, len(parents), _CHUNK):
        chunk = parents[start:start + _CHUNK]

        def build(chunk: list[str] = chunk) -> Any:
            # tables and dynamic tables fill tableQualifiedName, views and materialised
            # views viewQualifiedName (pyatlan's Column.creator does the same)
            return (FluentSearch()
                    .where(FluentSearch.asset_type(Column))
                    .where(FluentSearch.active_assets())
                    .where(Column.CONNECTION_QUALIFIED_NAME.eq(connection_qn))
                    .where_some(Column.TABLE_QUALIFIED_NAME.within(chunk))
                    .where_some(Column.VIEW_QUALIFIED_NAME.within(chunk))
                    .min_somes(1)
                    .include_on_results(Column.TABLE_QUALIFIED_NAME)
                    .include_on_results(Column.VIEW_QUALIFIED_NAME)
                    .page_size(500))

        for column in calls.search(f"columns in {connection_qn}", build):
            parent = column.table_qualified_name or column.view_qualified_name
            if parent in chunk:
                columns[parent].append((str(column.name), str(column.qualified_name)))
    for node in nodes:
        endpoint = result.tables[node.id]
        available = columns.get(endpoint.qualified_name, [])
        for field_name in node.fields:
            qn = _column(field_name, available)
            if qn is None:
                endpoint.missing_columns.append(field_name)
            else:
                endpoint.columns[field_name] = qn


def _column(name: str, available: list[tuple[str, str]]) -> str | None:
    exact = [qn for col, qn in available if col == name]
    if len(exact) == 1:
        return exact[0]
    loose = [qn for col, qn in available if col.lower() == name.lower()]
    return loose[0] if len(loose) == 1 else None


def _asset_class(type_name: str) -> type:
    from pyatlan.model import assets

    return getattr(assets, type_name)
