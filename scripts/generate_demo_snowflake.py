#!/usr/bin/env python3
"""Write the Snowflake half of the bundled demo (fixtures/demo/snowflake/).

The files have the column sets of real exports: ACCOUNT_USAGE.QUERY_HISTORY,
ACCOUNT_USAGE.COPY_HISTORY, SHOW STAGES and INFORMATION_SCHEMA.COLUMNS. The scenario is
the one fixtures/demo/README.md describes; every S3 key loaded is one the Postgres side
writes, except the vendor fx_rates file that nobody exports.

Deterministic: ids and hashes derive from the statement text and time, so re-running it
rewrites identical files.

    python scripts/generate_demo_snowflake.py [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "demo" / "snowflake"
LAKE = "s3://fintech-lake/exports/"

# --- statements (texts exactly as in fixtures/demo/README.md) --------------------------


def one_line(text: str) -> str:
    """The README's single-line statement text from a wrapped literal."""
    return " ".join(text.split())


CREATE_STAGE = one_line("""
    CREATE OR REPLACE STAGE LAKE_STAGE URL='s3://fintech-lake/exports/' STORAGE_INTEGRATION=S3_INT
""")
CREATE_PIPE = one_line("""
    CREATE OR REPLACE PIPE TRANSACTIONS_PIPE AUTO_INGEST=TRUE AS COPY INTO RAW.LANDING.TRANSACTIONS
    FROM @RAW.LANDING.LAKE_STAGE/transactions/ FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)
""")
COPY_USERS = one_line("""
    COPY INTO USERS FROM @LAKE_STAGE/users/ PATTERN='.*users[.]csv'
    FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)
""")
COPY_ACCOUNTS = one_line("""
    COPY INTO RAW.LANDING.ACCOUNTS (ID, USER_ID, CURRENCY, STATUS, OPENED_AT)
    FROM (SELECT t.$1, t.$2, t.$3, t.$4, t.$5::timestamp_ntz
    FROM @RAW.LANDING.LAKE_STAGE/accounts/ t)
    FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)
""")
COPY_MERCHANTS = one_line("""
    COPY INTO RAW.LANDING.MERCHANTS FROM 's3://fintech-lake/exports/merchants/'
    STORAGE_INTEGRATION=S3_INT FILE_FORMAT=(TYPE=CSV PARSE_HEADER=TRUE)
    MATCH_BY_COLUMN_NAME=CASE_INSENSITIVE
""")
COPY_DAILY_BALANCES = one_line("""
    COPY INTO RAW.LANDING.DAILY_BALANCES (ACCOUNT_ID, DAY, BALANCE_CHANGE)
    FROM (SELECT $1, $2::date, $3::number(18,2) FROM @LAKE_STAGE/daily_balances/)
    FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)
""")
COPY_FX_RATES = one_line("""
    COPY INTO RAW.LANDING.FX_RATES FROM 's3://fintech-lake/vendor/fx_rates/'
    FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)
""")
COPY_REFUNDS = "COPY INTO RAW.LANDING.REFUNDS FROM @RAW.LANDING.OLD_STAGE/refunds/"
# Not in the README's list by name: its "one EXECUTION_STATUS = FAIL COPY".
COPY_CARDS_FAILS = one_line("""
    COPY INTO RAW.LANDING.CARDS FROM @LAKE_STAGE/cards/ FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)
""")
CTAS_DIM_USERS = one_line("""
    CREATE OR REPLACE TABLE ANALYTICS.MARTS.DIM_USERS AS SELECT u.ID AS USER_ID, u.EMAIL, u.COUNTRY,
    COUNT(a.ID) AS ACCOUNT_COUNT FROM RAW.LANDING.USERS u LEFT JOIN RAW.LANDING.ACCOUNTS a
    ON a.USER_ID = u.ID GROUP BY 1, 2, 3
""")
INSERT_FACT = one_line("""
    INSERT INTO ANALYTICS.MARTS.FACT_TRANSACTIONS
    (TRANSACTION_ID, ACCOUNT_ID, MERCHANT_NAME, AMOUNT_USD, CREATED_AT)
    SELECT t.ID, t.ACCOUNT_ID, m.NAME, t.AMOUNT * COALESCE(fx.RATE, 1), t.CREATED_AT
    FROM RAW.LANDING.TRANSACTIONS t JOIN RAW.LANDING.MERCHANTS m ON m.ID = t.MERCHANT_ID
    LEFT JOIN RAW.LANDING.FX_RATES fx ON fx.CURRENCY = t.CURRENCY
""")
MERGE_DIM_ACCOUNTS = one_line("""
    MERGE INTO ANALYTICS.MARTS.DIM_ACCOUNTS d USING RAW.LANDING.ACCOUNTS s ON d.ACCOUNT_ID = s.ID
    WHEN MATCHED THEN UPDATE SET d.STATUS = s.STATUS WHEN NOT MATCHED THEN INSERT
    (ACCOUNT_ID, USER_ID, CURRENCY, STATUS) VALUES (s.ID, s.USER_ID, s.CURRENCY, s.STATUS)
""")
UNLOAD_DIM_USERS = one_line("""
    COPY INTO 's3://fintech-lake/reports/dim_users/' FROM (SELECT USER_ID, COUNTRY, ACCOUNT_COUNT
    FROM ANALYTICS.MARTS.DIM_USERS) STORAGE_INTEGRATION=S3_INT FILE_FORMAT=(TYPE=PARQUET)
    HEADER=TRUE
""")
# Analysts format their SQL; the newlines also exercise multi-line CSV fields.
SELECT_COUNT = "SELECT COUNT(*)\nFROM RAW.LANDING.USERS"
SELECT_TOP = (
    "SELECT USER_ID, COUNTRY, ACCOUNT_COUNT\nFROM ANALYTICS.MARTS.DIM_USERS\n"
    "ORDER BY ACCOUNT_COUNT DESC\nLIMIT 20"
)
SELECT_STAGE = "SELECT t.$1, t.$2, t.$3\nFROM @LAKE_STAGE/users/dt=2025-01-16/ t\nLIMIT 10"
SHOW_STAGES = "SHOW STAGES IN SCHEMA RAW.LANDING"

# --- who runs what -----------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    id: int
    user: str
    role: str
    warehouse: str


ADMIN = Session(21797166593026, "PLATFORM_ADMIN", "SYSADMIN", "ADMIN_WH")
LOADER = Session(21797166609410, "LOADER_SVC", "LOADER", "LOAD_WH")
TRANSFORM = Session(21797166625794, "DBT_SVC", "TRANSFORMER", "TRANSFORM_WH")
ANALYST = Session(21797166642178, "MCHEN", "ANALYST", "ANALYST_WH")


@dataclass(frozen=True)
class Statement:
    at: str  # UTC start, "YYYY-MM-DD HH:MM:SS.fff"
    text: str
    query_type: str
    session: Session
    elapsed_ms: int
    rows_produced: int = 0  # SELECT/SHOW result rows; derived for DML and COPY
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unloaded: int = 0
    error: tuple[str, str] | None = None  # (ERROR_CODE, ERROR_MESSAGE) → FAIL


@dataclass(frozen=True)
class Load:
    """One COPY_HISTORY row."""

    loaded_at: str
    stage_location: str
    file_name: str
    table: str
    rows: int
    file_size: int
    pipe_received_at: str | None = None  # set for Snowpipe loads


# Row counts of each exported file; the COPY statements report their sums.
USERS_ROWS = {"2025-01-14": 1180, "2025-01-15": 1204, "2025-01-16": 1231}
LOADS = [
    *(
        Load(f"{d} 02:05:13.{480 + i:03d}", LAKE, f"users/dt={d}/users.csv", "USERS", n, n * 71)
        for i, (d, n) in enumerate(USERS_ROWS.items())
    ),
    Load(
        "2025-01-15 02:07:04.127",
        LAKE,
        "accounts/accounts_2025-01-15.csv",
        "ACCOUNTS",
        1532,
        1532 * 52,
    ),
    Load(
        "2025-01-15 02:08:11.904", f"{LAKE}merchants/", "merchants.csv", "MERCHANTS", 312, 312 * 38
    ),
    Load(
        "2025-01-15 02:09:22.315",
        LAKE,
        "daily_balances/daily_balances_2025-01-15.csv",
        "DAILY_BALANCES",
        9874,
        9874 * 29,
    ),
    Load(
        "2025-01-15 02:10:02.661",
        "s3://fintech-lake/vendor/fx_rates/",
        "fx_2025-01-15.csv",
        "FX_RATES",
        34,
        34 * 24,
    ),
    # Snowpipe: S3 event notifications, no statement in QUERY_HISTORY.
    Load(
        "2025-01-15 02:11:47.052",
        LAKE,
        "transactions/2025/01/15/part-000.csv",
        "TRANSACTIONS",
        500,  # what the Postgres COPY wrote (pg_stat_statements rows)
        500 * 64,
        pipe_received_at="2025-01-15 02:11:29.318",
    ),
    Load(
        "2025-01-15 02:11:52.790",
        LAKE,
        "transactions/2025/01/15/part-001.csv",
        "TRANSACTIONS",
        500,
        500 * 64,
        pipe_received_at="2025-01-15 02:11:30.006",
    ),
]

STATEMENTS = [
    Statement("2025-01-14 02:00:03.512", CREATE_STAGE, "CREATE_STAGE", ADMIN, 412),
    Statement("2025-01-14 02:00:41.208", CREATE_PIPE, "CREATE_PIPE", ADMIN, 655),
    *(
        Statement(
            f"{d} 02:05:11.{930 + i:03d}",
            COPY_USERS,
            "COPY",
            LOADER,
            1540 + 37 * i,
            rows_inserted=n,
        )
        for i, (d, n) in enumerate(USERS_ROWS.items())
    ),
    Statement("2025-01-14 02:31:09.774", SHOW_STAGES, "SHOW", ADMIN, 96, rows_produced=2),
    Statement("2025-01-15 02:07:02.845", COPY_ACCOUNTS, "COPY", LOADER, 1318, rows_inserted=1532),
    Statement("2025-01-15 02:08:10.517", COPY_MERCHANTS, "COPY", LOADER, 1433, rows_inserted=312),
    Statement(
        "2025-01-15 02:09:20.088", COPY_DAILY_BALANCES, "COPY", LOADER, 2261, rows_inserted=9874
    ),
    Statement("2025-01-15 02:10:01.402", COPY_FX_RATES, "COPY", LOADER, 1297, rows_inserted=34),
    # OLD_STAGE was dropped since; the COPY found no new files, so COPY_HISTORY has no row.
    Statement("2025-01-15 02:10:33.251", COPY_REFUNDS, "COPY", LOADER, 874),
    Statement(
        "2025-01-15 02:10:58.630",
        COPY_CARDS_FAILS,
        "COPY",
        LOADER,
        118,
        error=(
            "002003",
            "SQL compilation error:\nTable 'RAW.LANDING.CARDS' does not exist or not authorized.",
        ),
    ),
    Statement(
        "2025-01-15 03:00:05.119",
        CTAS_DIM_USERS,
        "CREATE_TABLE_AS_SELECT",
        TRANSFORM,
        3127,
        rows_inserted=1204,
    ),
    Statement(
        "2025-01-15 03:00:09.402", INSERT_FACT, "INSERT", TRANSFORM, 6410, rows_inserted=1000
    ),
    Statement(
        "2025-01-15 03:00:16.877",
        MERGE_DIM_ACCOUNTS,
        "MERGE",
        TRANSFORM,
        2874,
        rows_inserted=1498,
        rows_updated=34,
    ),
    Statement(
        "2025-01-15 03:10:00.356", UNLOAD_DIM_USERS, "UNLOAD", TRANSFORM, 1981, rows_unloaded=1204
    ),
    Statement("2025-01-15 03:42:27.093", SELECT_COUNT, "SELECT", ANALYST, 208, rows_produced=1),
    Statement("2025-01-15 03:44:51.640", SELECT_TOP, "SELECT", ANALYST, 331, rows_produced=20),
    Statement("2025-01-16 02:39:14.225", SELECT_STAGE, "SELECT", ANALYST, 1117, rows_produced=10),
]

# --- QUERY_HISTORY -----------------------------------------------------------------------

QUERY_HISTORY_COLUMNS = [
    "QUERY_ID", "QUERY_TEXT", "DATABASE_ID", "DATABASE_NAME", "SCHEMA_ID", "SCHEMA_NAME",
    "QUERY_TYPE", "SESSION_ID", "USER_NAME", "ROLE_NAME", "WAREHOUSE_ID", "WAREHOUSE_NAME",
    "WAREHOUSE_SIZE", "WAREHOUSE_TYPE", "CLUSTER_NUMBER", "QUERY_TAG", "EXECUTION_STATUS",
    "ERROR_CODE", "ERROR_MESSAGE", "START_TIME", "END_TIME", "TOTAL_ELAPSED_TIME",
    "BYTES_SCANNED", "ROWS_PRODUCED", "ROWS_INSERTED", "ROWS_UPDATED", "ROWS_DELETED",
    "ROWS_UNLOADED", "COMPILATION_TIME", "EXECUTION_TIME", "QUERY_HASH", "QUERY_HASH_VERSION",
    "QUERY_PARAMETERIZED_HASH", "QUERY_PARAMETERIZED_HASH_VERSION",
]  # fmt: skip
WAREHOUSE_IDS = {"ADMIN_WH": 11, "LOAD_WH": 12, "TRANSFORM_WH": 13, "ANALYST_WH": 14}
LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+\b")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def sf_time(moment: datetime) -> str:
    """Snowflake's TIMESTAMP_LTZ export format, in UTC."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} +0000"


def query_id(stmt: Statement) -> str:
    h = hashlib.sha1(f"{stmt.at}|{stmt.text}".encode()).hexdigest()
    return f"01b9{h[:4]}-0206-{h[4:8]}-0000-{h[8:20]}"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def query_history_row(stmt: Statement) -> dict[str, object]:
    start = parse_time(stmt.at)
    end = start + timedelta(milliseconds=stmt.elapsed_ms)
    compile_ms = min(stmt.elapsed_ms, 60 + len(stmt.text) // 4)
    return {
        "QUERY_ID": query_id(stmt),
        "QUERY_TEXT": stmt.text,
        "DATABASE_ID": 7,
        "DATABASE_NAME": "RAW",
        "SCHEMA_ID": 18,
        "SCHEMA_NAME": "LANDING",
        "QUERY_TYPE": stmt.query_type,
        "SESSION_ID": stmt.session.id,
        "USER_NAME": stmt.session.user,
        "ROLE_NAME": stmt.session.role,
        "WAREHOUSE_ID": WAREHOUSE_IDS[stmt.session.warehouse],
        "WAREHOUSE_NAME": stmt.session.warehouse,
        "WAREHOUSE_SIZE": "X-Small",
        "WAREHOUSE_TYPE": "STANDARD",
        "CLUSTER_NUMBER": 1,
        "QUERY_TAG": "",
        "EXECUTION_STATUS": "FAIL" if stmt.error else "SUCCESS",
        "ERROR_CODE": stmt.error[0] if stmt.error else "",
        "ERROR_MESSAGE": stmt.error[1] if stmt.error else "",
        "START_TIME": sf_time(start),
        "END_TIME": sf_time(end),
        "TOTAL_ELAPSED_TIME": stmt.elapsed_ms,
        "BYTES_SCANNED": 0 if stmt.error else (stmt.rows_inserted + stmt.rows_unloaded) * 64,
        # DML and COPY report the rows they affected; queries the rows they returned.
        "ROWS_PRODUCED": stmt.rows_produced
        or stmt.rows_inserted + stmt.rows_updated + stmt.rows_unloaded,
        "ROWS_INSERTED": stmt.rows_inserted,
        "ROWS_UPDATED": stmt.rows_updated,
        "ROWS_DELETED": 0,
        "ROWS_UNLOADED": stmt.rows_unloaded,
        "COMPILATION_TIME": compile_ms,
        "EXECUTION_TIME": 0 if stmt.error else stmt.elapsed_ms - compile_ms,
        "QUERY_HASH": md5(stmt.text),
        "QUERY_HASH_VERSION": 2,
        "QUERY_PARAMETERIZED_HASH": md5(LITERAL.sub("?", stmt.text)),
        "QUERY_PARAMETERIZED_HASH_VERSION": 1,
    }


# --- COPY_HISTORY ------------------------------------------------------------------------

COPY_HISTORY_COLUMNS = [
    "FILE_NAME", "STAGE_LOCATION", "LAST_LOAD_TIME", "ROW_COUNT", "ROW_PARSED", "FILE_SIZE",
    "FIRST_ERROR_MESSAGE", "FIRST_ERROR_LINE_NUMBER", "FIRST_ERROR_CHARACTER_POS",
    "FIRST_ERROR_COLUMN_NAME", "ERROR_COUNT", "ERROR_LIMIT", "STATUS", "TABLE_ID", "TABLE_NAME",
    "TABLE_SCHEMA_ID", "TABLE_SCHEMA_NAME", "TABLE_CATALOG_ID", "TABLE_CATALOG_NAME",
    "PIPE_CATALOG_NAME", "PIPE_SCHEMA_NAME", "PIPE_NAME", "PIPE_RECEIVED_TIME",
]  # fmt: skip
TABLE_IDS = {
    "USERS": 2050, "ACCOUNTS": 2051, "TRANSACTIONS": 2052, "MERCHANTS": 2053,
    "DAILY_BALANCES": 2054, "FX_RATES": 2055, "REFUNDS": 2056,
}  # fmt: skip


def copy_history_row(load: Load) -> dict[str, object]:
    piped = load.pipe_received_at is not None
    return {
        "FILE_NAME": load.file_name,
        "STAGE_LOCATION": load.stage_location,
        "LAST_LOAD_TIME": sf_time(parse_time(load.loaded_at)),
        "ROW_COUNT": load.rows,
        "ROW_PARSED": load.rows,
        "FILE_SIZE": load.file_size,
        "FIRST_ERROR_MESSAGE": "",
        "FIRST_ERROR_LINE_NUMBER": "",
        "FIRST_ERROR_CHARACTER_POS": "",
        "FIRST_ERROR_COLUMN_NAME": "",
        "ERROR_COUNT": 0,
        # Bulk COPY defaults to ON_ERROR=ABORT_STATEMENT, Snowpipe to SKIP_FILE.
        "ERROR_LIMIT": load.rows if piped else 1,
        "STATUS": "Loaded",
        "TABLE_ID": TABLE_IDS[load.table],
        "TABLE_NAME": load.table,
        "TABLE_SCHEMA_ID": 18,
        "TABLE_SCHEMA_NAME": "LANDING",
        "TABLE_CATALOG_ID": 7,
        "TABLE_CATALOG_NAME": "RAW",
        "PIPE_CATALOG_NAME": "RAW" if piped else "",
        "PIPE_SCHEMA_NAME": "LANDING" if piped else "",
        "PIPE_NAME": "TRANSACTIONS_PIPE" if piped else "",
        "PIPE_RECEIVED_TIME": sf_time(parse_time(load.pipe_received_at))
        if load.pipe_received_at
        else "",
    }


# --- SHOW STAGES -------------------------------------------------------------------------

STAGE_COLUMNS = [
    "created_on", "name", "database_name", "schema_name", "url", "has_credentials",
    "has_encryption_key", "owner", "comment", "region", "type", "cloud", "notification_channel",
    "storage_integration", "endpoint", "owner_role_type", "directory_enabled",
]  # fmt: skip
STAGES = [
    {
        "created_on": sf_time(parse_time("2025-01-14 02:00:03.512")),
        "name": "LAKE_STAGE", "database_name": "RAW", "schema_name": "LANDING",
        "url": LAKE, "has_credentials": "N", "has_encryption_key": "N", "owner": "SYSADMIN",
        "comment": "", "region": "us-east-1", "type": "EXTERNAL", "cloud": "AWS",
        "notification_channel": "", "storage_integration": "S3_INT", "endpoint": "",
        "owner_role_type": "ROLE", "directory_enabled": "N",
    },
    {
        "created_on": sf_time(parse_time("2024-11-02 16:24:51.087")),
        "name": "INTERNAL_STG", "database_name": "RAW", "schema_name": "LANDING",
        "url": "", "has_credentials": "N", "has_encryption_key": "N", "owner": "LOADER",
        "comment": "ad-hoc PUT uploads", "region": "", "type": "INTERNAL", "cloud": "",
        "notification_channel": "", "storage_integration": "", "endpoint": "",
        "owner_role_type": "ROLE", "directory_enabled": "N",
    },
]  # fmt: skip

# --- INFORMATION_SCHEMA.COLUMNS ----------------------------------------------------------

COLUMN_COLUMNS = [
    "TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME", "ORDINAL_POSITION",
    "COLUMN_DEFAULT", "IS_NULLABLE", "DATA_TYPE", "CHARACTER_MAXIMUM_LENGTH",
    "NUMERIC_PRECISION", "NUMERIC_SCALE", "COMMENT",
]  # fmt: skip
# "NAME TYPE" pairs; NUMBER(p,s) carries precision and scale.
TABLES: dict[str, list[str]] = {
    "RAW.LANDING.USERS": [
        "ID NUMBER", "EMAIL TEXT", "FULL_NAME TEXT", "COUNTRY TEXT", "CREATED_AT TIMESTAMP_NTZ",
    ],
    "RAW.LANDING.ACCOUNTS": [
        "ID NUMBER", "USER_ID NUMBER", "CURRENCY TEXT", "STATUS TEXT", "OPENED_AT TIMESTAMP_NTZ",
    ],
    "RAW.LANDING.TRANSACTIONS": [
        "ID NUMBER", "ACCOUNT_ID NUMBER", "MERCHANT_ID NUMBER", "AMOUNT NUMBER(18,2)",
        "CURRENCY TEXT", "CREATED_AT TIMESTAMP_NTZ",
    ],
    "RAW.LANDING.MERCHANTS": ["ID NUMBER", "NAME TEXT", "CATEGORY TEXT", "COUNTRY TEXT"],
    "RAW.LANDING.DAILY_BALANCES": ["ACCOUNT_ID NUMBER", "DAY DATE", "BALANCE_CHANGE NUMBER(18,2)"],
    "RAW.LANDING.FX_RATES": ["CURRENCY TEXT", "RATE FLOAT", "AS_OF DATE"],
    "RAW.LANDING.REFUNDS": ["ID NUMBER", "TRANSACTION_ID NUMBER", "AMOUNT NUMBER(18,2)"],
    "ANALYTICS.MARTS.DIM_USERS": [
        "USER_ID NUMBER", "EMAIL TEXT", "COUNTRY TEXT", "ACCOUNT_COUNT NUMBER",
    ],
    "ANALYTICS.MARTS.FACT_TRANSACTIONS": [
        "TRANSACTION_ID NUMBER", "ACCOUNT_ID NUMBER", "MERCHANT_NAME TEXT",
        "AMOUNT_USD NUMBER(18,2)", "CREATED_AT TIMESTAMP_NTZ",
    ],
    "ANALYTICS.MARTS.DIM_ACCOUNTS": [
        "ACCOUNT_ID NUMBER", "USER_ID NUMBER", "CURRENCY TEXT", "STATUS TEXT",
    ],
}  # fmt: skip


def column_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for dotted, columns in TABLES.items():
        db, schema, table = dotted.split(".")
        for ordinal, column in enumerate(columns, start=1):
            name, sql_type = column.split(" ", 1)
            base, _, args = sql_type.partition("(")
            precision, _, scale = args.rstrip(")").partition(",")
            rows.append({
                "TABLE_CATALOG": db, "TABLE_SCHEMA": schema, "TABLE_NAME": table,
                "COLUMN_NAME": name, "ORDINAL_POSITION": ordinal, "COLUMN_DEFAULT": "",
                "IS_NULLABLE": "NO" if ordinal == 1 else "YES", "DATA_TYPE": base,
                "CHARACTER_MAXIMUM_LENGTH": 16777216 if base == "TEXT" else "",
                "NUMERIC_PRECISION": (precision or 38) if base == "NUMBER" else "",
                "NUMERIC_SCALE": (scale or 0) if base == "NUMBER" else "",
                "COMMENT": "",
            })  # fmt: skip
    return rows


# --- output ------------------------------------------------------------------------------


def write_csv(path: Path, columns: list[str], rows: Sequence[Mapping[str, object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows)")


def check_consistency() -> None:
    """Each bulk COPY's ROWS_INSERTED equals the rows COPY_HISTORY gives its files."""
    bulk = sum(load.rows for load in LOADS if load.pipe_received_at is None)
    copied = sum(s.rows_inserted for s in STATEMENTS if s.query_type == "COPY" and not s.error)
    assert bulk == copied, (bulk, copied)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output directory (default {OUT})")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    check_consistency()
    statements = sorted(STATEMENTS, key=lambda s: s.at)
    write_csv(
        out / "query_history.csv", QUERY_HISTORY_COLUMNS, [query_history_row(s) for s in statements]
    )
    loads = sorted(LOADS, key=lambda load: load.loaded_at)
    write_csv(
        out / "copy_history.csv", COPY_HISTORY_COLUMNS, [copy_history_row(load) for load in loads]
    )
    write_csv(out / "stages.csv", STAGE_COLUMNS, STAGES)
    write_csv(out / "sf_columns.csv", COLUMN_COLUMNS, column_rows())


if __name__ == "__main__":
    main()
