"""Session context a statement ran in, and how table names resolve against it.

Snowflake: unqualified names take the session's DATABASE_NAME/SCHEMA_NAME.
Postgres: unqualified names walk the search_path (the first schema whose catalog has
the table wins; otherwise the first explicit schema), inside the session's database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from s3lineage.model import DatasetKind, DatasetRef, Dialect
from s3lineage.naming import fold_identifier, namespace_for
from s3lineage.resolve.schema import Catalog, SchemaProvider
from s3lineage.resolve.sqlglot_adapter import exp

_PG_IMPLICIT_SCHEMAS = {"$user", '"$user"', "pg_catalog", "pg_temp"}


@dataclass(frozen=True, slots=True)
class ResolveContext:
    dialect: Dialect
    namespace: str
    default_database: str | None = None
    default_schema: str | None = None
    search_path: tuple[str, ...] = ()
    catalog: SchemaProvider | None = None

    @classmethod
    def create(
        cls,
        dialect: Dialect | str,
        *,
        namespace: str | None = None,
        default_database: str | None = None,
        default_schema: str | None = None,
        search_path: tuple[str, ...] | list[str] = (),
        catalog: SchemaProvider | None = None,
    ) -> ResolveContext:
        d = Dialect(dialect)
        db = _fold_context_name(default_database, d)
        schema = _fold_context_name(default_schema, d)
        path = tuple(_fold_context_name(p, d) or p for p in search_path)
        return cls(d, namespace_for(d, namespace), db, schema, path, catalog)

    @property
    def cache_key(self) -> tuple:
        """Identifies everything besides the text that a resolution depends on; stable
        across runs (the catalog by content), so the state store can persist results."""
        catalog = self.catalog
        if catalog is None:
            catalog_key = None
        else:
            catalog_key = getattr(catalog, "fingerprint", None) or f"id:{id(catalog)}"
        return (
            self.dialect.value,
            self.namespace,
            self.default_database,
            self.default_schema,
            self.search_path,
            catalog_key,
        )

    def with_database(self, database: str | None) -> ResolveContext:
        return replace(self, default_database=_fold_context_name(database, self.dialect))

    def with_schema(self, schema: str | None) -> ResolveContext:
        return replace(self, default_schema=_fold_context_name(schema, self.dialect))

    def with_search_path(self, path: tuple[str, ...]) -> ResolveContext:
        return replace(self, search_path=path)

    # --- name resolution -------------------------------------------------------------

    def fold(self, ident: exp.Identifier | str | None) -> str | None:
        if ident is None:
            return None
        if isinstance(ident, str):
            return fold_identifier(ident, self.dialect, quoted=False) if ident else None
        name = ident.this if isinstance(ident.this, str) else ident.name
        if not name:
            return None
        return fold_identifier(name, self.dialect, quoted=bool(ident.args.get("quoted")))

    def table_parts(self, table: exp.Table) -> tuple[str, ...]:
        """Folded, context-qualified name parts of a table reference."""
        catalog = self.fold(table.args.get("catalog"))
        db = self.fold(table.args.get("db"))
        if catalog and db is None and table.args.get("db") is not None and self.dialect is Dialect.SNOWFLAKE:
            db = "PUBLIC"  # Snowflake's db..table always means the PUBLIC schema
        name = self.fold(table.this) if isinstance(table.this, exp.Identifier) else table.name
        return self.qualify_parts(catalog, db, name or "")

    def qualify_parts(self, catalog: str | None, schema: str | None, name: str) -> tuple[str, ...]:
        if self.dialect is Dialect.POSTGRES:
            database = catalog or self.default_database
            if schema is None:
                schema = self._pg_schema_for(database, name)
        else:
            database = catalog or self.default_database
            schema = schema or self.default_schema
        return tuple(p for p in (database, schema, name) if p)

    def _pg_schema_for(self, database: str | None, name: str) -> str:
        path = [s for s in self.search_path if s not in _PG_IMPLICIT_SCHEMAS]
        if not path:
            path = [self.default_schema or "public"]
        if name.startswith("pg_") and self.columns_of(tuple(p for p in (database, path[0], name) if p)) is None:
            return "pg_catalog"  # pg_catalog is searched first, implicitly
        if isinstance(self.catalog, Catalog) and len(path) > 1:
            prefixes = tuple(tuple(p for p in (database, s) if p) for s in path)
            found = self.catalog.find(name, prefixes)
            if found:
                return found[-2]
        return path[0]

    def table_ref(self, parts: tuple[str, ...]) -> DatasetRef:
        return DatasetRef(self.namespace, ".".join(parts), DatasetKind.TABLE)

    def columns_of(self, parts: tuple[str, ...]) -> tuple[str, ...] | None:
        if self.catalog is None:
            return None
        return self.catalog.columns(parts)


def _fold_context_name(name: str | None, dialect: Dialect) -> str | None:
    """Context names come from logs/config: strip quotes; quoted ones stay exact."""
    if not name:
        return None
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1]
    if dialect is Dialect.SNOWFLAKE:
        # QUERY_HISTORY already reports folded names; an unquoted config value folds.
        return name.upper() if name == name.lower() else name
    return name.lower() if name == name.upper() and dialect is Dialect.POSTGRES else name
