"""Every SQL text the live Snowflake source sends, in one place.

Keeping them here is the seam for tests: fakesnow runs the ACCOUNT_USAGE page queries,
``SHOW STAGES``/``SHOW DATABASES`` and ``INFORMATION_SCHEMA.COLUMNS``; for what it cannot
run (``SHOW PIPES``) a test cursor matches these exact texts and returns canned rows.

Bind parameters use the connector's default ``pyformat`` style (``%(name)s``), bound
client-side, so every value here is a plain string or int. Timestamps are passed as ISO
8601 strings with an offset and converted by ``TO_TIMESTAMP_LTZ``, which both Snowflake
and fakesnow read the same way (a ``NULL`` there breaks fakesnow, so none is ever bound).

Paging is keyset paging over ``(PAGE_TIME, PAGE_KEY)``:

- ``PAGE_TIME`` is the history timestamp truncated to microseconds. Snowflake keeps
  nanoseconds but Python datetimes hold microseconds, so comparing the raw column with
  the last row's (truncated) time would return the same rows again, forever.
- ``PAGE_KEY`` breaks ties between rows with the same time: QUERY_ID for QUERY_HISTORY;
  ``db.schema.table/file`` for COPY_HISTORY, which has no id of its own.

The first page binds ``after_time = window_start`` and ``after_key = ''``, which admits
every row at or after the window start. The outer ``window_start`` filter on the raw
column stays so Snowflake can prune the view's micro-partitions by time.
"""

from __future__ import annotations

import re

# Our own statements carry this QUERY_TAG (set as a session parameter at connect) so the
# next run does not read back its own history queries as lineage events.
OWN_QUERY_TAG = "s3lineage-collector"

# Databases every account has that hold no user tables.
SYSTEM_DATABASES: frozenset[str] = frozenset({"SNOWFLAKE", "SNOWFLAKE_SAMPLE_DATA"})

# Parameters: window_start, after_time (ISO strings), after_key, own_tag, limit.
QUERY_HISTORY_PAGE = """
SELECT * FROM (
    SELECT QUERY_ID, QUERY_TEXT, DATABASE_NAME, SCHEMA_NAME, QUERY_TYPE, SESSION_ID,
           USER_NAME, ROLE_NAME, WAREHOUSE_NAME, EXECUTION_STATUS, START_TIME, END_TIME,
           ROWS_PRODUCED, ROWS_INSERTED, ROWS_UNLOADED,
           DATE_TRUNC('MICROSECOND', END_TIME) AS PAGE_TIME,
           QUERY_ID AS PAGE_KEY
    FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY
    WHERE END_TIME >= TO_TIMESTAMP_LTZ(%(window_start)s)
      AND COALESCE(QUERY_TAG, '') <> %(own_tag)s
)
WHERE PAGE_TIME > TO_TIMESTAMP_LTZ(%(after_time)s)
   OR (PAGE_TIME = TO_TIMESTAMP_LTZ(%(after_time)s) AND PAGE_KEY > %(after_key)s)
ORDER BY PAGE_TIME, PAGE_KEY
LIMIT %(limit)s
"""

# Parameters: window_start, after_time (ISO strings), after_key, limit.
COPY_HISTORY_PAGE = """
SELECT * FROM (
    SELECT FILE_NAME, STAGE_LOCATION, LAST_LOAD_TIME, ROW_COUNT, ROW_PARSED, FILE_SIZE,
           FIRST_ERROR_MESSAGE, ERROR_COUNT, STATUS, TABLE_NAME, TABLE_SCHEMA_NAME,
           TABLE_CATALOG_NAME, PIPE_CATALOG_NAME, PIPE_SCHEMA_NAME, PIPE_NAME,
           PIPE_RECEIVED_TIME,
           DATE_TRUNC('MICROSECOND', LAST_LOAD_TIME) AS PAGE_TIME,
           COALESCE(TABLE_CATALOG_NAME, '') || '.' || COALESCE(TABLE_SCHEMA_NAME, '') || '.'
               || COALESCE(TABLE_NAME, '') || '/' || COALESCE(FILE_NAME, '') AS PAGE_KEY
    FROM SNOWFLAKE.ACCOUNT_USAGE.COPY_HISTORY
    WHERE LAST_LOAD_TIME >= TO_TIMESTAMP_LTZ(%(window_start)s)
)
WHERE PAGE_TIME > TO_TIMESTAMP_LTZ(%(after_time)s)
   OR (PAGE_TIME = TO_TIMESTAMP_LTZ(%(after_time)s) AND PAGE_KEY > %(after_key)s)
ORDER BY PAGE_TIME, PAGE_KEY
LIMIT %(limit)s
"""

SHOW_DATABASES = "SHOW DATABASES"

_COLUMNS = """
SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE
FROM {database}.INFORMATION_SCHEMA.COLUMNS
WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA'
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
"""

_SIMPLE_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def identifier(name: str, *, exact: bool) -> str:
    """An identifier for ``name``: quoted when ``exact`` (a stored name, as SHOW returns it)
    or when it is not a plain identifier; else unquoted, so Snowflake upper-cases it the
    way it would in the user's own SQL (``databases = ["raw"]`` means RAW).

    >>> identifier("raw", exact=False), identifier("My Db", exact=False)
    ('raw', '"My Db"')
    >>> identifier('we"ird', exact=True)
    '"we""ird"'
    """
    if not exact and _SIMPLE_IDENTIFIER.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def show_stages(database: str | None) -> str:
    """``SHOW STAGES IN ACCOUNT``, or in one database (an :func:`identifier`).

    SHOW returns lower-case column names; url is plain (a JSON-array string in DESC).
    """
    return f"SHOW STAGES IN DATABASE {database}" if database else "SHOW STAGES IN ACCOUNT"


def show_pipes(database: str | None) -> str:
    """``SHOW PIPES IN ACCOUNT``, or in one database (an :func:`identifier`)."""
    return f"SHOW PIPES IN DATABASE {database}" if database else "SHOW PIPES IN ACCOUNT"


def columns(database: str) -> str:
    """``<database>.INFORMATION_SCHEMA.COLUMNS`` of every table and view but its own."""
    return _COLUMNS.format(database=database)
