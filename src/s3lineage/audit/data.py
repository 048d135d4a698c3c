"""The stored lineage graph as the audit commands see it, and name resolution.

The graph comes from the state store (``edges`` rows carry the edge's contract JSON,
``datasets`` rows the dataset's name, kind and fields) or from a JSON export
(docs/graph-format.md). Users name things loosely — ``appdb.public.users``,
``RAW.LANDING.USERS.EMAIL``, ``s3://b/k``, a suffix such as ``public.users``, an edge's
short key — and :class:`AuditData` turns that into exactly one dataset, column or edge,
or an error listing the candidates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3lineage.errors import S3LineageError

EDGE_ARROW = " -> "
SYSTEM_ORDER = ("postgres", "s3", "snowflake")


class AuditError(S3LineageError):
    """A name that matches nothing or several things; a missing state store."""


@dataclass(slots=True)
class Dataset:
    """A dataset node: the contract's ``datasets[]`` entry, minus S3 members."""

    id: str
    namespace: str
    name: str
    kind: str  # table | s3 | stage
    system: str  # postgres | snowflake | s3
    fields: list[str] = field(default_factory=list)

    @property
    def display(self) -> str:
        """What people call it: ``db.schema.table``, ``s3://bucket/key``, ``@DB.SCH.STAGE/p``."""
        if self.kind == "s3":
            return self.id
        if self.kind == "stage":
            return f"@{self.name}"
        return self.name


@dataclass(slots=True)
class Edge:
    """An edge with its contract JSON (``data``) and the store's bookkeeping."""

    id: str
    source: str
    target: str
    kind: str
    data: dict[str, Any]
    status: str = "active"  # active | stale (state store); active for JSON exports
    first_run: int | None = None
    last_changed_run: int | None = None
    last_observed: str | None = None
    stale_since: str | None = None

    @property
    def key(self) -> str:
        return edge_key(self.id)

    @property
    def confidence(self) -> float:
        return float(self.data.get("confidence", 1.0))

    @property
    def evidence(self) -> dict[str, Any]:
        return dict(self.data.get("evidence") or {})


def edge_key(edge_id: str) -> str:
    """A short, stable handle for an edge (8 hex digits), shown by ``audit``."""
    return hashlib.blake2b(edge_id.encode("utf-8"), digest_size=4).hexdigest()


def dataset_from_id(dataset_id: str, name: str, kind: str, fields: Iterable[str] = ()) -> Dataset:
    """Rebuild namespace and system from an id and its name (see graph-format.md)."""
    if kind == "s3":
        rest = dataset_id[len("s3://"):]
        namespace = "s3://" + rest.split("/", 1)[0]
    elif kind == "stage":
        namespace = dataset_id[: -(len(name) + 2)]
    else:
        namespace = dataset_id[: -(len(name) + 1)] if dataset_id.endswith("/" + name) else dataset_id
    system = "s3" if kind == "s3" else namespace.split("://", 1)[0]
    return Dataset(dataset_id, namespace, name, kind, system, list(fields))


def guess_dataset(dataset_id: str) -> Dataset:
    """A dataset known only by an id (an edge end the datasets table lacks)."""
    if dataset_id.startswith("s3://"):
        rest = dataset_id[len("s3://"):]
        return dataset_from_id(dataset_id, rest.split("/", 1)[1] if "/" in rest else "", "s3")
    _scheme, _, rest = dataset_id.partition("://")
    _host, _, name = rest.partition("/")
    if name.startswith("@"):
        return dataset_from_id(dataset_id, name[1:], "stage")
    return dataset_from_id(dataset_id, name, "table")


@dataclass(frozen=True, slots=True)
class Target:
    """What a user named: a dataset, one of its columns, or an edge."""

    kind: str  # dataset | column | edge
    dataset: Dataset | None = None
    column: str | None = None
    edge: Edge | None = None

    @property
    def label(self) -> str:
        if self.kind == "edge" and self.edge is not None:
            return self.edge.id
        assert self.dataset is not None
        return self.dataset.display + (f".{self.column}" if self.column else "")


class AuditData:
    """Datasets and edges with lookups by loose names."""

    def __init__(self, datasets: dict[str, Dataset], edges: dict[str, Edge]) -> None:
        self.datasets = datasets
        self.edges = edges
        for edge in edges.values():  # an edge end the datasets table lacks
            for end in (edge.source, edge.target):
                if end not in self.datasets:
                    self.datasets[end] = guess_dataset(end)
        self._by_key = {edge.key: edge for edge in edges.values()}
        self._out: dict[str, list[Edge]] = {}
        self._in: dict[str, list[Edge]] = {}
        for edge in sorted(edges.values(), key=lambda e: e.id):
            self._out.setdefault(edge.source, []).append(edge)
            self._in.setdefault(edge.target, []).append(edge)

    # --- loading --------------------------------------------------------------------

    @classmethod
    def from_store(cls, store: Any) -> AuditData:
        """From a :class:`~s3lineage.state.store.StateStore` (its ``edges``/``datasets``)."""
        datasets: dict[str, Dataset] = {}
        for dataset_id, text in store.datasets().items():
            data = json.loads(text)
            datasets[dataset_id] = dataset_from_id(
                dataset_id, data.get("name", ""), data.get("kind", "table"), data.get("fields", []))
        edges: dict[str, Edge] = {}
        for edge_id, row in store.edges().items():
            edges[edge_id] = Edge(
                edge_id, row["source"], row["target"], row["kind"], json.loads(row["data"]),
                row["status"], row["first_run"], row["last_changed_run"], row["last_observed"],
                row["stale_since"])
        return cls(datasets, edges)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> AuditData:
        """From the JSON contract (an ``infer`` export or :func:`to_json_data`)."""
        if doc.get("format") != "s3lineage.graph":
            raise AuditError("not an s3lineage graph export (format != 's3lineage.graph')")
        datasets = {
            d["id"]: Dataset(d["id"], d["namespace"], d["name"], d["kind"], d["system"],
                             list(d.get("fields", [])))
            for d in doc.get("datasets", [])
        }
        edges = {
            e["id"]: Edge(e["id"], e["source"], e["target"], e["kind"], e)
            for e in doc.get("edges", [])
        }
        return cls(datasets, edges)

    @classmethod
    def from_file(cls, path: str | Path) -> AuditData:
        try:
            return cls.from_document(json.loads(Path(path).read_text(encoding="utf-8")))
        except OSError as err:
            raise AuditError(f"cannot read {path}: {err.strerror}") from err
        except json.JSONDecodeError as err:
            raise AuditError(f"{path} is not JSON: {err}") from err

    # --- graph ----------------------------------------------------------------------

    def out_edges(self, dataset_id: str) -> list[Edge]:
        return self._out.get(dataset_id, [])

    def in_edges(self, dataset_id: str) -> list[Edge]:
        return self._in.get(dataset_id, [])

    def display(self, dataset_id: str) -> str:
        node = self.datasets.get(dataset_id)
        return node.display if node else dataset_id

    def column_sources(self, dataset_id: str, column: str) -> list[tuple[Edge, dict[str, Any]]]:
        """The in-edges that map ``column`` of ``dataset_id``, with the mapping."""
        found = []
        for edge in self.in_edges(dataset_id):
            for mapping in edge.data.get("columns", []):
                if mapping["target"] == column:
                    found.append((edge, mapping))
        return found

    def column_targets(self, dataset_id: str, column: str) -> list[tuple[Edge, dict[str, Any]]]:
        """The out-edges that carry ``column`` of ``dataset_id`` into a target column."""
        found = []
        for edge in self.out_edges(dataset_id):
            for mapping in edge.data.get("columns", []):
                if any(s["dataset"] == dataset_id and s["field"] == column for s in mapping["sources"]):
                    found.append((edge, mapping))
        return found

    def columns_of(self, dataset_id: str) -> list[str]:
        """Fields of a dataset, plus any a mapping names that the catalog did not list."""
        node = self.datasets.get(dataset_id)
        names = list(node.fields) if node else []
        for edge in self.in_edges(dataset_id):
            for mapping in edge.data.get("columns", []):
                if mapping["target"] not in names:
                    names.append(mapping["target"])
        for edge in self.out_edges(dataset_id):
            for mapping in edge.data.get("columns", []):
                for source in mapping["sources"]:
                    if source["dataset"] == dataset_id and source["field"] not in names:
                        names.append(source["field"])
        return names

    # --- name resolution -------------------------------------------------------------

    def find_datasets(self, ref: str) -> list[Dataset]:
        """Datasets ``ref`` may name: id, display name, or a suffix on a ``.``/``/``
        boundary; exact case first, then case-insensitively."""
        ref = ref.strip()
        if ref in self.datasets:
            return [self.datasets[ref]]
        for fold in (False, True):
            wanted = ref.lower() if fold else ref
            exact, suffix = [], []
            for node in self.datasets.values():
                names = {node.id, node.display, node.name}
                names = {n.lower() for n in names} if fold else names
                if wanted in names:
                    exact.append(node)
                elif any(n.endswith(("." + wanted, "/" + wanted)) for n in names):
                    suffix.append(node)
            if exact or suffix:
                return sorted(exact or suffix, key=lambda n: n.id)
        return []

    def resolve_dataset(self, ref: str) -> Dataset:
        found = self.find_datasets(ref)
        if len(found) == 1:
            return found[0]
        if not found:
            raise AuditError(f"no dataset matches {ref!r}" + self._hint())
        raise AuditError(_ambiguous(ref, [n.display for n in found]))

    def resolve_edge(self, ref: str) -> Edge:
        ref = ref.strip()
        if ref in self.edges:
            return self.edges[ref]
        if EDGE_ARROW.strip() in ref:
            left, _, right = ref.partition(EDGE_ARROW.strip())
            source, target = self.resolve_dataset(left), self.resolve_dataset(right)
            edge = self.edges.get(f"{source.id}{EDGE_ARROW}{target.id}")
            if edge is None:
                raise AuditError(f"no edge {source.display} -> {target.display}")
            return edge
        key = ref.lower()
        if len(key) >= 4 and all(c in "0123456789abcdef" for c in key):
            keyed = [e for k, e in self._by_key.items() if k.startswith(key)]
            if len(keyed) == 1:
                return keyed[0]
            if len(keyed) > 1:
                raise AuditError(_ambiguous(ref, [f"{e.key}  {e.id}" for e in keyed]))
        raise AuditError(f"no edge matches {ref!r}: give its id ('source -> target', as "
                         "`s3lineage audit` lists it) or its key")

    def resolve(self, ref: str) -> Target:
        """A dataset, ``dataset.column`` (or ``dataset#column``), or an edge."""
        ref = ref.strip()
        if ref in self.edges or EDGE_ARROW.strip() in ref:
            return Target("edge", edge=self.resolve_edge(ref))
        if "#" in ref:
            left, _, column = ref.rpartition("#")
            node = self.resolve_dataset(left)
            return Target("column", node, self._column(node, column))
        found = self.find_datasets(ref)
        if len(found) == 1:
            return Target("dataset", found[0])
        if len(found) > 1:
            raise AuditError(_ambiguous(ref, [n.display for n in found]))
        left, dot, column = ref.rpartition(".")
        if dot and left:
            nodes = self.find_datasets(left)
            with_column = [n for n in nodes if self._has_column(n, column)]
            if len(with_column) == 1:
                return Target("column", with_column[0], self._column(with_column[0], column))
            if len(with_column) > 1:
                raise AuditError(_ambiguous(ref, [f"{n.display}.{column}" for n in with_column]))
            if len(nodes) == 1:
                raise AuditError(f"{nodes[0].display} has no column {column!r} "
                                 f"(columns: {', '.join(self.columns_of(nodes[0].id)) or 'unknown'})")
        key = ref.lower()
        if len(key) >= 4 and all(c in "0123456789abcdef" for c in key):
            return Target("edge", edge=self.resolve_edge(ref))
        raise AuditError(f"nothing matches {ref!r}" + self._hint())

    def _has_column(self, node: Dataset, column: str) -> bool:
        return any(c.lower() == column.lower() for c in self.columns_of(node.id))

    def _column(self, node: Dataset, column: str) -> str:
        names = self.columns_of(node.id)
        if column in names:
            return column
        folded = [c for c in names if c.lower() == column.lower()]
        if len(folded) == 1:
            return folded[0]
        raise AuditError(f"{node.display} has no column {column!r} "
                         f"(columns: {', '.join(names) or 'unknown'})")

    def _hint(self) -> str:
        if not self.datasets:
            return " (the graph is empty: run `s3lineage infer --config …` first)"
        return " (try a longer name, e.g. `appdb.public.users`, or `s3lineage audit` to list edges)"


def _ambiguous(ref: str, candidates: list[str]) -> str:
    shown = "\n  ".join(candidates[:20])
    more = f"\n  … and {len(candidates) - 20} more" if len(candidates) > 20 else ""
    return f"{ref!r} is ambiguous; did you mean one of:\n  {shown}{more}"


def system_rank(system: str) -> int:
    return SYSTEM_ORDER.index(system) if system in SYSTEM_ORDER else len(SYSTEM_ORDER)


def state_path(config: Any) -> Path:
    """The state database of a loaded :class:`~s3lineage.config.Config` (as the runner uses)."""
    if config.state is not None:
        return Path(config.state.path)
    return Path(config.path).resolve().parent / ".s3lineage" / "state.db"


def open_store(config: Any) -> Any:
    """The config's state store; an :class:`AuditError` when no run has created it yet."""
    from s3lineage.state.store import StateStore

    path = state_path(config)
    if not path.exists():
        raise AuditError(f"no state store at {path}: run `s3lineage infer --config {config.path}` "
                         "(without --dry-run) first")
    return StateStore(path)


def connection(store: Any, ddl: str) -> Any:
    """The store's sqlite3 connection with ``ddl`` (CREATE … IF NOT EXISTS) applied.

    Statement by statement: ``executescript`` would commit a transaction in progress
    (the runner's), so it is never used here.
    """
    db = store.db if hasattr(store, "db") else store
    for statement in ddl.split(";"):
        if statement.strip():
            db.execute(statement)
    return db
