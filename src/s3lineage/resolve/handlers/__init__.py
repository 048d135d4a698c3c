"""Named handlers that idiom files in ``parsers/`` point at.

A handler takes the classified statement and a Builder and records what the statement
reads, writes and maps. Handlers never raise on odd input: they add diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable

from s3lineage.resolve.builder import Builder
from s3lineage.resolve.handlers import postgres, snowflake, sql
from s3lineage.resolve.handlers.common import Statement

Handler = Callable[[Statement, Builder], None]

HANDLERS: dict[str, Handler] = {
    # PostgreSQL
    "pg_query_export_to_s3": postgres.query_export_to_s3,
    "pg_table_import_from_s3": postgres.table_import_from_s3,
    "pg_copy_export": postgres.copy_export,
    "pg_copy_import": postgres.copy_import,
    "pg_copy_without_s3": postgres.copy_without_s3,
    # Snowflake
    "sf_copy_load": snowflake.copy_load,
    "sf_copy_unload": snowflake.copy_unload,
    "sf_copy_internal_stage": snowflake.copy_internal,
    "sf_create_stage": snowflake.create_stage,
    "sf_create_pipe": snowflake.create_pipe,
    "sf_create_external_table": snowflake.create_external_table,
    # Plain SQL, both dialects
    "sql_select": sql.select,
    "sql_select_into": sql.select_into,
    "sql_insert": sql.insert,
    "sql_insert_multi": sql.insert_multi,
    "sql_create_as": sql.create_as,
    "sql_create_table": sql.create_table,
    "sql_merge": sql.merge,
    "sql_update": sql.update,
}

__all__ = ["HANDLERS", "Handler", "Statement"]
