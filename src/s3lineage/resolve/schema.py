"""What the resolver knows about table columns, behind one small interface.

Collectors feed a :class:`Catalog` (information_schema exports, live catalogs); the
resolver only calls :meth:`SchemaProvider.columns`. Lookups try the exact name first
and fall back to a case-insensitive match, because hand-written schema files rarely
follow the database's case-folding rules.
"""

from __future__ import annotations

import hashlib
from typing import Protocol


class SchemaProvider(Protocol):
    def columns(self, name: tuple[str, ...]) -> tuple[str, ...] | None:
        """Ordered column names of table ``(db, schema, table)``, or None when unknown."""
        ...


class Catalog:
    """An in-memory SchemaProvider keyed by (database, schema, table).

    >>> c = Catalog()
    >>> c.add_table(("appdb", "public", "users"), ["id", "email"])
    >>> c.columns(("appdb", "public", "users"))
    ('id', 'email')
    >>> c.columns(("APPDB", "PUBLIC", "USERS"))
    ('id', 'email')
    """

    def __init__(self) -> None:
        self._tables: dict[tuple[str, ...], dict[int, str]] = {}
        self._folded: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._version = 0
        self._fingerprint: tuple[int, str] | None = None

    def __len__(self) -> int:
        return len(self._tables)

    @property
    def version(self) -> int:
        """Bumped on every change, so resolution caches can key on it."""
        return self._version

    @property
    def fingerprint(self) -> str:
        """A digest of the content (not of load order), cached until the next change."""
        if self._fingerprint is None or self._fingerprint[0] != self._version:
            digest = hashlib.blake2b(digest_size=12)
            for table in sorted(self._tables):
                digest.update(repr((table, self.columns(table))).encode())
            self._fingerprint = (self._version, digest.hexdigest())
        return self._fingerprint[1]

    def add_column(self, table: tuple[str, ...], column: str, ordinal: int | None = None) -> None:
        cols = self._tables.setdefault(table, {})
        if column in cols.values():
            return
        cols[ordinal if ordinal is not None else len(cols) + 1] = column
        self._folded[tuple(p.lower() for p in table)] = table
        self._version += 1

    def add_table(self, table: tuple[str, ...], columns: list[str] | tuple[str, ...]) -> None:
        for i, col in enumerate(columns, start=1):
            self.add_column(table, col, i)

    def columns(self, name: tuple[str, ...]) -> tuple[str, ...] | None:
        cols = self._tables.get(name)
        if cols is None:
            exact = self._folded.get(tuple(p.lower() for p in name))
            if exact is None:
                return None
            cols = self._tables[exact]
        return tuple(cols[i] for i in sorted(cols))

    def find(self, table: str, schemas: tuple[tuple[str, ...], ...]) -> tuple[str, ...] | None:
        """First ``prefix + (table,)`` that the catalog knows, trying each prefix in order.

        Used for Postgres search_path resolution.
        """
        for prefix in schemas:
            name = (*prefix, table)
            if self.columns(name) is not None:
                return name
        return None

    def tables(self) -> list[tuple[str, ...]]:
        return list(self._tables)

    @classmethod
    def from_mapping(cls, mapping: dict[str, list[str]]) -> Catalog:
        """``{"db.schema.table": ["col", …]}`` (the --schema-file / batch format)."""
        catalog = cls()
        for dotted, cols in mapping.items():
            catalog.add_table(tuple(dotted.split(".")), list(cols))
        return catalog


class OverlayCatalog:
    """A catalog plus tables a script created (temp tables), without touching the base."""

    def __init__(self, base: SchemaProvider | None, tables: dict[tuple[str, ...], tuple[str, ...]]) -> None:
        self.base = base
        self.tables = dict(tables)
        self._folded = {tuple(p.lower() for p in k): v for k, v in self.tables.items()}

    @property
    def fingerprint(self) -> str:
        base = getattr(self.base, "fingerprint", None) if self.base is not None else None
        digest = hashlib.blake2b(repr((base, sorted(self.tables.items()))).encode(), digest_size=12)
        return digest.hexdigest()

    def columns(self, name: tuple[str, ...]) -> tuple[str, ...] | None:
        found = self.tables.get(name) or self._folded.get(tuple(p.lower() for p in name))
        if found is not None:
            return found
        return self.base.columns(name) if self.base is not None else None
