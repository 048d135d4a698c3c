"""Impact analysis: everything reachable from a dataset or column, up or downstream.

:class:`ImpactIndex` precomputes integer adjacency lists for datasets and columns once;
each query is then a breadth-first search with parent pointers, so it costs only what it
reaches (benchmarks/bench_impact.py: a 100,000-dataset graph answers in milliseconds).
Paths are rebuilt from the parent pointers: one shortest path per reached node.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# (target field, [(source dataset, source field)], transform)
Mapping = tuple[str, list[tuple[str, str]], str]
# (edge id, source dataset, target dataset, kind, mappings)
EdgeRecord = tuple[str, str, str, str, list[Mapping]]

_NONE = (-1, -1)


@dataclass(slots=True)
class Reached:
    """A reached dataset (``field`` None) or column, with one shortest path to it.

    ``path`` alternates nodes and edges: ``[seed, edge, node, edge, …, this]`` where
    nodes are dataset ids or ``(dataset id, field)`` pairs.
    """

    dataset: str
    field: str | None
    depth: int
    path: list[Any]

    def to_json(self) -> dict[str, Any]:
        nodes = self.path[0::2]
        return {
            "dataset": self.dataset, "field": self.field, "depth": self.depth,
            "path": [n if isinstance(n, str) else {"dataset": n[0], "field": n[1]} for n in nodes],
            "edges": self.path[1::2],
        }


class Impact:
    """What a query reached. The search itself is done; the ``datasets`` and ``columns``
    lists (each with its path) are built on first access, so their cost is proportional
    to what a caller reads."""

    def __init__(self, index: ImpactIndex | None, seed: str, column: str | None,
                 direction: str) -> None:
        self.index = index
        self.seed = seed
        self.column = column
        self.direction = direction
        self.dataset_order: list[tuple[int, int]] = []  # (dataset, depth), seed excluded
        self.dataset_parents: dict[int, tuple[int, int]] = {}
        self.column_order: list[tuple[int, int]] = []  # (column, depth), seeds excluded
        self.column_parents: dict[int, tuple[int, int]] = {}
        self.dataset_via_column: dict[int, int] = {}  # column seed: dataset → first column reached
        self._datasets: list[Reached] | None = None
        self._columns: list[Reached] | None = None

    @property
    def dataset_count(self) -> int:
        return len(self.dataset_via_column) if self.column is not None else len(self.dataset_order)

    @property
    def column_count(self) -> int:
        return len(self.column_order)

    @property
    def columns(self) -> list[Reached]:
        if self._columns is None:
            index = self.index
            with _gc_paused():
                self._columns = [] if index is None else [
                    index._reached_column(n, d, self.column_parents) for n, d in self.column_order]
        return self._columns

    @property
    def datasets(self) -> list[Reached]:
        if self._datasets is None:
            with _gc_paused():
                self._datasets = self._build_datasets()
        return self._datasets

    def _build_datasets(self) -> list[Reached]:
        index = self.index
        if index is None:
            return []
        if self.column is None:
            return [index._reached_dataset(n, d, self.dataset_parents) for n, d in self.dataset_order]
        built = []  # table level of a column query: the datasets owning the reached columns
        for owner, node in self.dataset_via_column.items():
            reached = index._reached_column(node, 0, self.column_parents)
            path = [p if isinstance(p, str) else p[0] for p in reached.path]
            built.append(Reached(index.datasets[owner], None, len(path) // 2, path))
        return built

    def to_json(self) -> dict[str, Any]:
        return {"seed": {"dataset": self.seed, "field": self.column}, "direction": self.direction,
                "datasets": [r.to_json() for r in self.datasets],
                "columns": [r.to_json() for r in self.columns]}


class ImpactIndex:
    """Integer-indexed adjacency of datasets and columns, both directions."""

    def __init__(self) -> None:
        self.datasets: list[str] = []
        self.dataset_ix: dict[str, int] = {}
        self.edge_ids: list[str] = []
        self.ds_down: list[list[tuple[int, int]]] = []  # dataset → [(neighbour, edge)]
        self.ds_up: list[list[tuple[int, int]]] = []
        self.columns: list[tuple[int, str]] = []
        self.column_ix: dict[tuple[int, str], int] = {}
        self.col_down: list[list[tuple[int, int]]] = []
        self.col_up: list[list[tuple[int, int]]] = []
        self.columns_of: list[list[int]] = []  # dataset → its column nodes

    # --- building ---------------------------------------------------------------------

    @classmethod
    def build(cls, edges: Iterable[EdgeRecord]) -> ImpactIndex:
        index = cls()
        for edge_id, source, target, _kind, mappings in edges:
            e = len(index.edge_ids)
            index.edge_ids.append(edge_id)
            s, t = index._dataset(source), index._dataset(target)
            index.ds_down[s].append((t, e))
            index.ds_up[t].append((s, e))
            for target_field, sources, _transform in mappings:
                tc = index._column(t, target_field)
                for src_dataset, src_field in sources:
                    sc = index._column(index._dataset(src_dataset), src_field)
                    index.col_down[sc].append((tc, e))
                    index.col_up[tc].append((sc, e))
        return index

    @classmethod
    def from_audit(cls, data: Any, skip: set[str] | None = None,
                   fields: bool = True) -> ImpactIndex:
        """From :class:`~s3lineage.audit.data.AuditData`; ``skip``: edge ids left out
        (rejected edges). With ``fields``, every known column is a node (so a column with no
        lineage is still found)."""
        skip = skip or set()
        records: list[EdgeRecord] = []
        for edge in sorted(data.edges.values(), key=lambda e: e.id):
            if edge.id in skip:
                continue
            mappings = [(m["target"], [(s["dataset"], s["field"]) for s in m["sources"]],
                         m.get("transform", "identity")) for m in edge.data.get("columns", [])]
            records.append((edge.id, edge.source, edge.target, edge.kind, mappings))
        index = cls.build(records)
        if fields:
            for node in data.datasets.values():
                ds = index._dataset(node.id)
                for name in node.fields:
                    index._column(ds, name)
        return index

    def _dataset(self, dataset_id: str) -> int:
        ix = self.dataset_ix.get(dataset_id)
        if ix is None:
            ix = self.dataset_ix[dataset_id] = len(self.datasets)
            self.datasets.append(dataset_id)
            self.ds_down.append([])
            self.ds_up.append([])
            self.columns_of.append([])
        return ix

    def _column(self, dataset: int, name: str) -> int:
        key = (dataset, name)
        ix = self.column_ix.get(key)
        if ix is None:
            ix = self.column_ix[key] = len(self.columns)
            self.columns.append(key)
            self.col_down.append([])
            self.col_up.append([])
            self.columns_of[dataset].append(ix)
        return ix

    # --- queries ----------------------------------------------------------------------

    def query(self, dataset: str, column: str | None = None, *, direction: str = "downstream",
              depth: int | None = None) -> Impact:
        """Every dataset and column reachable from ``dataset`` (or its ``column``)."""
        if direction not in ("downstream", "upstream"):
            raise ValueError("direction is downstream or upstream")
        with _gc_paused():
            return self._query(dataset, column, direction, depth)

    def _query(self, dataset: str, column: str | None, direction: str, depth: int | None) -> Impact:
        result = Impact(self, dataset, column, direction)
        ds = self.dataset_ix.get(dataset)
        if ds is None:
            return result
        col_adj = self.col_down if direction == "downstream" else self.col_up
        if column is None:
            ds_adj = self.ds_down if direction == "downstream" else self.ds_up
            result.dataset_parents, order = _bfs([ds], ds_adj, depth)
            result.dataset_order = order[1:]
            seeds = self.columns_of[ds]
        else:
            seed = self.column_ix.get((ds, column))
            seeds = [seed] if seed is not None else []
        if not seeds:
            return result
        result.column_parents, order = _bfs(seeds, col_adj, depth)
        result.column_order = order[len(seeds):]
        if column is not None:
            owners = result.dataset_via_column
            columns = self.columns
            for node, _ in result.column_order:
                owner = columns[node][0]
                if owner != ds and owner not in owners:
                    owners[owner] = node
        return result

    def _reached_dataset(self, node: int, depth: int, parents: dict[int, tuple[int, int]]) -> Reached:
        path: list[Any] = [self.datasets[node]]
        current = node
        while parents[current] != _NONE:
            previous, edge = parents[current]
            path += [self.edge_ids[edge], self.datasets[previous]]
            current = previous
        path.reverse()
        return Reached(self.datasets[node], None, depth, path)

    def _reached_column(self, node: int, depth: int, parents: dict[int, tuple[int, int]]) -> Reached:
        ds, name = self.columns[node]
        path: list[Any] = [(self.datasets[ds], name)]
        current = node
        while parents[current] != _NONE:
            previous, edge = parents[current]
            pds, pname = self.columns[previous]
            path += [self.edge_ids[edge], (self.datasets[pds], pname)]
            current = previous
        path.reverse()
        return Reached(self.datasets[ds], name, depth, path)


def _bfs(seeds: list[int], adjacency: list[list[tuple[int, int]]],
         max_depth: int | None) -> tuple[dict[int, tuple[int, int]], list[tuple[int, int]]]:
    """Level-order search; returns parent pointers and (node, depth) in visit order."""
    parents: dict[int, tuple[int, int]] = dict.fromkeys(seeds, _NONE)
    order: list[tuple[int, int]] = [(s, 0) for s in seeds]
    frontier = list(seeds)
    level = 0
    while frontier and (max_depth is None or level < max_depth):
        level += 1
        following: list[int] = []
        push = following.append
        for node in frontier:
            for neighbour, edge in adjacency[node]:
                if neighbour not in parents:
                    parents[neighbour] = (node, edge)
                    push(neighbour)
        order.extend([(n, level) for n in following])
        frontier = following
    return parents, order


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: searches allocate only acyclic objects, and a full collection
    over a large index costs far more than the search itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- text ----------------------------------------------------------------------------------


def render_text(impact: Impact, display: Any, systems: dict[str, str]) -> str:
    """``display``: dataset id → name people use; ``systems``: dataset id → system."""
    seed = display(impact.seed) + (f".{impact.column}" if impact.column else "")
    arrow = "→" if impact.direction == "downstream" else "←"
    lines = [f"impact of {seed} ({impact.direction})"]

    def name(node: Any) -> str:
        return display(node) if isinstance(node, str) else f"{display(node[0])}.{node[1]}"

    lines.append(f"datasets reached: {len(impact.datasets)}")
    for r in sorted(impact.datasets, key=lambda r: (r.depth, display(r.dataset))):
        lines.append(f"  {r.depth:>2}  [{systems.get(r.dataset, '?'):<9}] {display(r.dataset)}")
    lines.append(f"columns reached: {len(impact.columns)}")
    for r in sorted(impact.columns, key=lambda r: (r.depth, display(r.dataset), r.field or "")):
        via = f" {arrow} ".join(name(n) for n in r.path[0::2])
        lines.append(f"  {r.depth:>2}  [{systems.get(r.dataset, '?'):<9}] {display(r.dataset)}.{r.field}")
        lines.append(f"        path: {via}")
    return "\n".join(lines)
