"""Live Snowflake source (collect/live_snowflake.py) through the real connector API.

fakesnow stands in for the account in-process (``fakesnow.patch()``): it runs the
ACCOUNT_USAGE page queries, SHOW STAGES/DATABASES and INFORMATION_SCHEMA.COLUMNS. What it
cannot do is tested with doubles, each saying why:

- ``SHOW PIPES`` is a DuckDB syntax error in fakesnow 0.12 → a fake cursor that answers
  the exact text from snowflake_sql;
- it accepts any credentials and has no warehouses or privileges → error paths use an
  injected ``connect`` raising the connector's own exception classes and errnos;
- SHOW STAGES always returns a plain url → the JSON-array form DESC STAGE uses goes
  through the fake cursor.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

fakesnow = pytest.importorskip("fakesnow")
connector = pytest.importorskip("snowflake.connector")
from snowflake.connector.errors import DatabaseError, OperationalError, ProgrammingError

from s3lineage.collect import CollectReport, snowflake_sql
from s3lineage.collect.live import LiveSource, SourceError
from s3lineage.collect.live_snowflake import SnowflakeLiveSource
from s3lineage.config import SourceConfig
from s3lineage.model import Dialect, Severity
from s3lineage.resolve.schema import Catalog

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output:UserWarning")

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
PASSWORD = "s3cr3t-Pa55w0rd!"
ENV = {"SNOWFLAKE_USER": "LINEAGE", "SNOWFLAKE_PASSWORD": PASSWORD}

QUERY_HISTORY_DDL = """
CREATE TABLE SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY (
    QUERY_ID VARCHAR, QUERY_TEXT VARCHAR, DATABASE_ID NUMBER, DATABASE_NAME VARCHAR,
    SCHEMA_ID NUMBER, SCHEMA_NAME VARCHAR, QUERY_TYPE VARCHAR, SESSION_ID NUMBER,
    USER_NAME VARCHAR, ROLE_NAME VARCHAR, WAREHOUSE_NAME VARCHAR, QUERY_TAG VARCHAR,
    EXECUTION_STATUS VARCHAR, ERROR_CODE VARCHAR, ERROR_MESSAGE VARCHAR,
    START_TIME TIMESTAMP_LTZ, END_TIME TIMESTAMP_LTZ, TOTAL_ELAPSED_TIME NUMBER,
    ROWS_PRODUCED NUMBER, ROWS_INSERTED NUMBER, ROWS_UPDATED NUMBER, ROWS_DELETED NUMBER,
    ROWS_UNLOADED NUMBER, QUERY_HASH VARCHAR, QUERY_PARAMETERIZED_HASH VARCHAR)
"""
QH_INSERT = """
INSERT INTO SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY
    (QUERY_ID, QUERY_TEXT, DATABASE_NAME, SCHEMA_NAME, QUERY_TYPE, SESSION_ID, USER_NAME,
     QUERY_TAG, EXECUTION_STATUS, START_TIME, END_TIME, ROWS_PRODUCED, ROWS_INSERTED,
     ROWS_UNLOADED)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
COPY_HISTORY_DDL = """
CREATE TABLE SNOWFLAKE.ACCOUNT_USAGE.COPY_HISTORY (
    FILE_NAME VARCHAR, STAGE_LOCATION VARCHAR, LAST_LOAD_TIME TIMESTAMP_LTZ, ROW_COUNT NUMBER,
    ROW_PARSED NUMBER, FILE_SIZE NUMBER, FIRST_ERROR_MESSAGE VARCHAR,
    FIRST_ERROR_LINE_NUMBER NUMBER, ERROR_COUNT NUMBER, ERROR_LIMIT NUMBER, STATUS VARCHAR,
    TABLE_ID NUMBER, TABLE_NAME VARCHAR, TABLE_SCHEMA_ID NUMBER, TABLE_SCHEMA_NAME VARCHAR,
    TABLE_CATALOG_ID NUMBER, TABLE_CATALOG_NAME VARCHAR, PIPE_CATALOG_NAME VARCHAR,
    PIPE_SCHEMA_NAME VARCHAR, PIPE_NAME VARCHAR, PIPE_RECEIVED_TIME TIMESTAMP_LTZ)
"""
CH_INSERT = """
INSERT INTO SNOWFLAKE.ACCOUNT_USAGE.COPY_HISTORY
    (FILE_NAME, STAGE_LOCATION, LAST_LOAD_TIME, ROW_COUNT, ROW_PARSED, FILE_SIZE, STATUS,
     TABLE_ID, TABLE_NAME, TABLE_SCHEMA_NAME, TABLE_CATALOG_NAME, PIPE_CATALOG_NAME,
     PIPE_SCHEMA_NAME, PIPE_NAME)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def qh_row(
    qid: str,
    end: datetime,
    *,
    text: str | None = None,
    status: str = "SUCCESS",
    qtype: str = "INSERT",
    tag: str | None = None,
) -> tuple[Any, ...]:
    return (
        qid,
        text or f"INSERT INTO RAW.PUBLIC.T SELECT '{qid}'",
        "RAW",
        "PUBLIC",
        qtype,
        7,
        "LOADER",
        tag,
        status,
        end - timedelta(seconds=5),
        end,
        1,
        3,
        0,
    )


def ch_row(
    file: str,
    loaded: datetime,
    *,
    table: str = "USERS",
    status: str = "Loaded",
    pipe: str | None = None,
) -> tuple[Any, ...]:
    return (
        file,
        "s3://lake/raw/users/",
        loaded,
        10,
        10,
        2048,
        status,
        42,
        table,
        "PUBLIC",
        "RAW",
        "RAW" if pipe else None,
        "PUBLIC" if pipe else None,
        pipe,
    )


class Account:
    """A fakesnow 'account' with ACCOUNT_USAGE tables, filled through the connector."""

    def __init__(self) -> None:
        self.conn = connector.connect(account="acme", user="admin", password="x")
        for sql in (
            "CREATE DATABASE SNOWFLAKE",
            "CREATE SCHEMA SNOWFLAKE.ACCOUNT_USAGE",
            QUERY_HISTORY_DDL,
            COPY_HISTORY_DDL,
        ):
            self.conn.cursor().execute(sql)

    def queries(self, *rows: tuple[Any, ...]) -> None:
        self.conn.cursor().executemany(QH_INSERT, list(rows))

    def loads(self, *rows: tuple[Any, ...]) -> None:
        self.conn.cursor().executemany(CH_INSERT, list(rows))

    def run(self, *sql: str) -> None:
        for statement in sql:
            self.conn.cursor().execute(statement)


@pytest.fixture
def account() -> Iterator[Account]:
    with fakesnow.patch():
        yield Account()


class Spy:
    """Wraps ``connect`` to record the keyword arguments and every statement executed."""

    def __init__(self, connect: Any) -> None:
        self._connect = connect
        self.kwargs: dict[str, Any] = {}
        self.statements: list[str] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        conn = self._connect(**kwargs)
        spy = self

        class Conn:
            def cursor(self) -> Any:
                cur = conn.cursor()
                execute = cur.execute

                def recorded(sql: str, params: Any = None) -> Any:
                    spy.statements.append(sql)
                    return execute(sql, params)

                cur.execute = recorded
                return cur

            def close(self) -> None:
                conn.close()

        return Conn()


def source_config(**settings: Any) -> SourceConfig:
    return SourceConfig(
        kind=Dialect.SNOWFLAKE,
        name="prod",
        namespace="snowflake://acme",
        settings={"account": "acme", **settings},
    )


def live(
    report: CollectReport | None = None,
    connect: Any = None,
    env: dict[str, str] | None = None,
    **settings: Any,
) -> SnowflakeLiveSource:
    return SnowflakeLiveSource(
        source_config(**settings),
        report or CollectReport(),
        connect=connect,
        environ=ENV if env is None else env,
        clock=lambda: NOW,
    )


# --- QUERY_HISTORY ------------------------------------------------------------------------


def test_is_a_live_source() -> None:
    src: LiveSource = live()
    assert src.name == "prod"


def test_first_run_reads_the_lookback_window_with_the_file_mapping(account: Account) -> None:
    account.queries(
        qh_row("old", NOW - timedelta(days=8)),
        qh_row("q1", NOW - timedelta(days=6)),
        qh_row("q2", NOW - timedelta(hours=1), text="COPY INTO @S/x/ FROM T", qtype="UNLOAD"),
    )
    cursor: dict[str, Any] = {}
    events = list(live().events(cursor))
    assert [e.query_id for e in events] == ["q1", "q2"]
    event = events[0]
    assert (event.source, event.namespace) == ("snowflake-live:prod", "snowflake://acme")
    assert (event.default_database, event.default_schema, event.user) == ("RAW", "PUBLIC", "LOADER")
    assert (event.session_id, event.rows) == ("7", 3)
    assert event.time == NOW - timedelta(days=6, seconds=5)  # START_TIME, as from a file
    assert event.where == "snowflake-live:prod query q1"
    # q1 is older than watermark - overlap: the next window cannot reach it, so not kept.
    assert cursor == {
        "query_history": {"watermark": (NOW - timedelta(hours=1)).isoformat(), "seen": ["q2"]}
    }


def test_pages_of_three_yield_every_row_once_in_order(account: Account) -> None:
    # 20 rows, pairs sharing an END_TIME, so page boundaries fall inside ties.
    rows = [qh_row(f"q{i:02d}", NOW - timedelta(minutes=60 - i // 2)) for i in range(20)]
    account.queries(*reversed(rows))
    spy = Spy(connector.connect)
    ids = [e.query_id for e in live(connect=spy, page_size=3).events({})]
    assert ids == [f"q{i:02d}" for i in range(20)]
    pages = [s for s in spy.statements if s == snowflake_sql.QUERY_HISTORY_PAGE]
    assert len(pages) == 7  # ⌈20 / 3⌉, the last one short


def test_overlap_rereads_late_rows_and_yields_nothing_twice(account: Account) -> None:
    account.queries(*(qh_row(f"q{i}", NOW - timedelta(minutes=50 - i)) for i in range(5)))
    cursor: dict[str, Any] = {}
    assert len(list(live().events(cursor))) == 5
    # ACCOUNT_USAGE lag: a query that ended 30 minutes before the watermark shows up late.
    watermark = NOW - timedelta(minutes=46)
    account.queries(qh_row("late", watermark - timedelta(minutes=30)))
    report = CollectReport()
    second = list(live(report).events(cursor))
    assert [e.query_id for e in second] == ["late"]
    assert report.counts["already_seen_statements"] == 5
    assert cursor["query_history"]["watermark"] == watermark.isoformat()
    assert list(live().events(cursor)) == []


def test_seen_ids_outside_the_overlap_are_pruned(account: Account) -> None:
    account.queries(qh_row("early", NOW - timedelta(hours=5)), qh_row("later", NOW))
    cursor: dict[str, Any] = {}
    list(live(overlap_minutes=60).events(cursor))
    assert cursor["query_history"]["seen"] == ["later"]


def test_failed_and_lineage_free_rows_are_counted_not_yielded(account: Account) -> None:
    account.queries(
        qh_row("ok", NOW - timedelta(minutes=9)),
        qh_row("fail", NOW - timedelta(minutes=8), status="FAIL"),
        qh_row("incident", NOW - timedelta(minutes=7), status="INCIDENT"),
        qh_row("show", NOW - timedelta(minutes=6), text="SHOW STAGES", qtype="SHOW"),
        qh_row("ours", NOW - timedelta(minutes=5), tag=snowflake_sql.OWN_QUERY_TAG),
    )
    report = CollectReport()
    cursor: dict[str, Any] = {}
    assert [e.query_id for e in live(report).events(cursor)] == ["ok"]
    assert report.counts == {"failed_statements": 2, "skipped_statements": 1}
    failed = [d for d in report.diagnostics if d.code == "failed_statement"]
    assert [(d.severity, d.where) for d in failed] == [
        (Severity.INFO, "snowflake-live:prod query fail"),
        (Severity.INFO, "snowflake-live:prod query incident"),
    ]
    # Dropped rows are remembered too, so the overlap does not count them again.
    again = CollectReport()
    assert list(live(again).events(cursor)) == []
    assert again.counts == {"already_seen_statements": 4}


def test_a_crashed_run_rereads_from_the_saved_cursor(account: Account) -> None:
    account.queries(*(qh_row(f"q{i}", NOW - timedelta(minutes=30 - i)) for i in range(8)))
    saved: dict[str, Any] = {}
    list(live().events(saved))  # run 1 completes and its cursor is saved
    account.queries(*(qh_row(f"n{i}", NOW + timedelta(minutes=i)) for i in range(6)))

    working = copy.deepcopy(saved)
    stream = live(page_size=2).events(working)
    first = [e.query_id for e in itertools.islice(stream, 3)]
    stream.close()  # run 2 dies: its cursor is never saved
    assert first == ["n0", "n1", "n2"]
    # Nothing beyond what was yielded entered the working cursor.
    assert working["query_history"]["seen"][-1] == "n2"

    retry = [e.query_id for e in live().events(copy.deepcopy(saved))]
    assert retry == [f"n{i}" for i in range(6)]
    # Resuming from the partly advanced cursor yields only the rest.
    assert [e.query_id for e in live().events(working)] == ["n3", "n4", "n5"]


def test_since_bounds_the_window_start(account: Account) -> None:
    account.queries(*(qh_row(f"q{i}", NOW - timedelta(hours=10 - i)) for i in range(10)))
    cursor: dict[str, Any] = {}
    since = NOW - timedelta(hours=4, minutes=30)
    assert [e.query_id for e in live().events(cursor, since=since)] == ["q6", "q7", "q8", "q9"]
    # With a watermark, the overlap would reach back 3 h; since cuts it at 30 min.
    account.queries(
        qh_row("late-old", NOW - timedelta(hours=2)),
        qh_row("late-new", NOW - timedelta(minutes=20)),
    )
    later = list(live().events(cursor, since=NOW - timedelta(minutes=30)))
    assert [e.query_id for e in later] == ["late-new"]


def test_corrupt_cursor_state_is_a_first_run(account: Account) -> None:
    account.queries(qh_row("q1", NOW - timedelta(days=1)))
    cursor: dict[str, Any] = {"query_history": {"watermark": "not a time", "seen": "junk"}}
    assert [e.query_id for e in live().events(cursor)] == ["q1"]
    assert cursor["query_history"]["seen"] == ["q1"]


# --- COPY_HISTORY -------------------------------------------------------------------------


def test_copy_loads_map_page_and_dedupe(account: Account) -> None:
    t = NOW - timedelta(hours=1)
    account.loads(
        ch_row("2025/01/a.csv", t),
        ch_row("2025/01/b.csv", t),  # same time: the key breaks the tie
        ch_row("2025/01/c.csv", t + timedelta(minutes=1), pipe="USERS_PIPE"),
        ch_row("2025/01/d.csv", t + timedelta(minutes=2), status="Load failed"),
        ch_row("2025/01/a.csv", t + timedelta(minutes=3)),  # reloaded with FORCE
    )
    cursor: dict[str, Any] = {}
    loads = list(live(page_size=2).copy_loads(cursor))
    assert [(ld.file_name, ld.last_load_time) for ld in loads] == [
        ("2025/01/a.csv", t),
        ("2025/01/b.csv", t),
        ("2025/01/c.csv", t + timedelta(minutes=1)),
        ("2025/01/d.csv", t + timedelta(minutes=2)),
        ("2025/01/a.csv", t + timedelta(minutes=3)),
    ]
    a = loads[0]
    assert a.table == ("RAW", "PUBLIC", "USERS") and a.url == "s3://lake/raw/users/2025/01/a.csv"
    assert (a.row_count, a.file_size, a.pipe) == (10, 2048, None)
    assert loads[2].pipe == "RAW.PUBLIC.USERS_PIPE" and not loads[3].loaded
    assert cursor["copy_history"]["seen"][0] == f"RAW.PUBLIC.USERS/2025/01/a.csv@{t.isoformat()}"

    account.loads(ch_row("2025/01/late.csv", t + timedelta(seconds=30)))
    report = CollectReport()
    assert [ld.file_name for ld in live(report).copy_loads(cursor)] == ["2025/01/late.csv"]
    assert report.counts["already_seen_loads"] == 5


# --- stages, catalog, pipes ------------------------------------------------------------------


def make_objects(account: Account) -> None:
    account.run(
        "CREATE DATABASE RAW",
        "CREATE SCHEMA RAW.PUBLIC",
        "CREATE SCHEMA RAW.LANDING",
        "CREATE TABLE RAW.PUBLIC.USERS (ID NUMBER, EMAIL VARCHAR, CREATED_AT TIMESTAMP_NTZ)",
        "CREATE STAGE RAW.LANDING.LAKE URL='s3://lake/raw/'",
        "CREATE STAGE RAW.LANDING.UPLOADS",
        "CREATE DATABASE ANALYTICS",
        "CREATE SCHEMA ANALYTICS.MART",
        "CREATE TABLE ANALYTICS.MART.DAU (DAY DATE, USERS NUMBER)",
        "CREATE STAGE ANALYTICS.MART.EXPORTS URL='s3://exports/mart/'",
        'CREATE DATABASE "lab"',
        'CREATE SCHEMA "lab".s',
        'CREATE TABLE "lab".s.t (a INT)',
    )


def test_stages_in_account_and_in_configured_databases(account: Account) -> None:
    make_objects(account)
    stages = {s.qualified_name: s for s in live().stages()}
    assert set(stages) == {"RAW.LANDING.LAKE", "RAW.LANDING.UPLOADS", "ANALYTICS.MART.EXPORTS"}
    lake = stages["RAW.LANDING.LAKE"]
    assert (lake.url, lake.type, lake.location) == (
        "s3://lake/raw/",
        "EXTERNAL",
        "snowflake-live:prod:SHOW STAGES IN ACCOUNT",
    )
    assert stages["RAW.LANDING.UPLOADS"].url is None

    only_raw = [s.qualified_name for s in live(databases=["raw"]).stages()]
    assert sorted(only_raw) == ["RAW.LANDING.LAKE", "RAW.LANDING.UPLOADS"]


def test_catalog_reads_every_database_but_snowflake(account: Account) -> None:
    make_objects(account)
    catalog = Catalog()
    live().load_catalog(catalog)
    assert catalog.columns(("RAW", "PUBLIC", "USERS")) == ("ID", "EMAIL", "CREATED_AT")
    assert catalog.columns(("ANALYTICS", "MART", "DAU")) == ("DAY", "USERS")
    assert catalog.columns(("lab", "S", "T")) == ("A",)
    assert catalog.columns(("SNOWFLAKE", "ACCOUNT_USAGE", "QUERY_HISTORY")) is None

    only = Catalog()
    live(databases=["ANALYTICS"]).load_catalog(only)
    assert len(only) == 1


def test_configured_database_that_cannot_be_read_stops_the_source(account: Account) -> None:
    with pytest.raises(SourceError) as err:
        live(databases=["NOPE"], role="LINEAGE_RO").load_catalog(Catalog())
    assert "GRANT USAGE ON DATABASE NOPE TO ROLE LINEAGE_RO" in err.value.fix


class FakeCursor:
    """Answers the exact snowflake_sql texts fakesnow cannot run with canned rows."""

    def __init__(self, answers: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> None:
        self._answers = answers
        self.description: list[tuple[str]] = []
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Any = None) -> None:
        names, self._rows = self._answers[sql]
        self.description = [(n,) for n in names]

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        batch, self._rows = self._rows[:size], self._rows[size:]
        return batch


class FakeConnection:
    def __init__(self, answers: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> None:
        self.answers = answers
        self.closed = 0

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.answers)

    def close(self) -> None:
        self.closed += 1


def test_pipes_from_show_pipes() -> None:
    # fakesnow 0.12: "SHOW PIPES IN ACCOUNT" → DuckDB "syntax error at or near IN".
    names = ["created_on", "name", "database_name", "schema_name", "definition", "owner"]
    rows = [
        (
            NOW,
            "USERS_PIPE",
            "RAW",
            "PUBLIC",
            "COPY INTO RAW.PUBLIC.USERS FROM @RAW.LANDING.LAKE/users/",
            "SYSADMIN",
        ),
        (NOW, "BROKEN", "RAW", "PUBLIC", None, "SYSADMIN"),
    ]
    conn = FakeConnection({snowflake_sql.show_pipes(None): (names, rows)})
    report = CollectReport()
    (pipe,) = live(report, connect=lambda **_: conn).pipes()
    assert pipe.text == (
        'CREATE OR REPLACE PIPE "RAW"."PUBLIC"."USERS_PIPE" AS '
        "COPY INTO RAW.PUBLIC.USERS FROM @RAW.LANDING.LAKE/users/"
    )
    assert (pipe.calls, pipe.default_database, pipe.source) == (0, "RAW", "snowflake-live:prod")
    assert [d.code for d in report.diagnostics] == ["bad_row"]


def test_stage_url_as_json_array_string() -> None:
    # fakesnow always returns a plain url; DESC-style JSON arrays come from other tools.
    names = ["name", "database_name", "schema_name", "url", "type"]
    rows = [("LAKE", "RAW", "LANDING", '["s3://lake/raw/"]', "EXTERNAL")]
    conn = FakeConnection({snowflake_sql.show_stages(None): (names, rows)})
    (stage,) = live(connect=lambda **_: conn).stages()
    assert stage.url == "s3://lake/raw/"


def test_a_page_that_does_not_advance_is_an_error_not_a_loop() -> None:
    # Cannot happen with the real SQL (the keyset is strict); a double that ignores the
    # keyset and always answers the same full page proves the loop guard.
    names = ["QUERY_ID", "QUERY_TEXT", "PAGE_TIME", "PAGE_KEY"]
    page = [("q1", "SELECT 1", NOW, "q1")]
    conn = FakeConnection({snowflake_sql.QUERY_HISTORY_PAGE: (names, page)})
    stream = live(connect=lambda **_: conn, page_size=1).events({})
    with pytest.raises(SourceError, match="no progress"):
        list(stream)


def test_close_is_idempotent() -> None:
    conn = FakeConnection({snowflake_sql.show_stages(None): (["name"], [])})
    src = live(connect=lambda **_: conn)
    src.close()  # never connected: nothing to close
    assert list(src.stages()) == []
    src.close()
    src.close()
    assert conn.closed == 1


# --- connecting ------------------------------------------------------------------------------


def test_connection_params_settings_first_then_environment() -> None:
    captured: dict[str, Any] = {}

    def connect(**kwargs: Any) -> FakeConnection:
        captured.update(kwargs)
        return FakeConnection({snowflake_sql.show_stages(None): (["name"], [])})

    env = {
        **ENV,
        "SNOWFLAKE_ROLE": "ENV_ROLE",
        "SNOWFLAKE_WAREHOUSE": "ENV_WH",
        "SNOWFLAKE_PORT": "8443",
        "SNOWFLAKE_ACCOUNT": "env-account",
    }
    list(live(connect=connect, env=env, role="CONFIG_ROLE").stages())
    assert captured["account"] == "acme"  # config wins over SNOWFLAKE_ACCOUNT
    assert (captured["role"], captured["warehouse"]) == ("CONFIG_ROLE", "ENV_WH")
    assert (captured["user"], captured["password"], captured["port"]) == ("LINEAGE", PASSWORD, 8443)
    assert captured["session_parameters"]["QUERY_TAG"] == snowflake_sql.OWN_QUERY_TAG
    assert "private_key" not in captured


def test_key_pair_auth_loads_the_encrypted_pem_as_der(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"open sesame"),
    )
    path = tmp_path / "rsa_key.p8"
    path.write_bytes(pem)
    captured: dict[str, Any] = {}

    def connect(**kwargs: Any) -> FakeConnection:
        captured.update(kwargs)
        return FakeConnection({snowflake_sql.show_stages(None): (["name"], [])})

    env = {"SNOWFLAKE_USER": "LINEAGE", "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "open sesame"}
    list(live(connect=connect, env=env, private_key_file=str(path)).stages())
    der = captured["private_key"]
    assert serialization.load_der_private_key(der, None).private_numbers() == key.private_numbers()
    assert "password" not in captured

    wrong = {**env, "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "wrong-passphrase-123"}
    with pytest.raises(SourceError) as err:
        list(live(connect=connect, env=wrong, private_key_file=str(path)).stages())
    assert "wrong-passphrase-123" not in str(err.value) and str(path) in str(err.value)


def fails_with(error: Exception) -> Any:
    def connect(**_: Any) -> Any:
        raise error

    return connect


def test_bad_password_names_the_fix_and_never_the_password() -> None:
    error = DatabaseError(
        msg=f"Failed to connect to DB: acme.snowflakecomputing.com:443. Incorrect username or "
        f"password was specified. (tried {PASSWORD})",
        errno=250001,
        sqlstate="08001",
    )
    with pytest.raises(SourceError) as err:
        list(live(connect=fails_with(error)).events({}))
    message = str(err.value)
    assert PASSWORD not in message and "***" in message
    assert "rejected the credentials of user 'LINEAGE'" in message
    assert "SNOWFLAKE_PASSWORD" in err.value.fix
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_rejected_credentials_by_server_code() -> None:
    error = DatabaseError(msg="JWT token is invalid.", errno=390144, sqlstate="28000")
    with pytest.raises(SourceError, match="rejected the credentials"):
        list(live(connect=fails_with(error)).stages())


def test_unreachable_account() -> None:
    error = OperationalError(
        msg="Could not connect to Snowflake backend after 2 attempt(s). Aborting", errno=250001
    )
    with pytest.raises(SourceError) as err:
        list(live(connect=fails_with(error)).stages())
    assert "cannot connect to Snowflake account 'acme'" in str(err.value)
    assert "`account`" in err.value.fix


def test_missing_account_and_credentials() -> None:
    src = SnowflakeLiveSource(
        SourceConfig(kind=Dialect.SNOWFLAKE, name="prod", namespace="snowflake://acme"),
        CollectReport(),
        connect=fails_with(AssertionError("must not connect")),
        environ=ENV,
    )
    with pytest.raises(SourceError) as err:
        list(src.events({}))
    assert "SNOWFLAKE_ACCOUNT" in err.value.fix and err.value.source == "prod"
    with pytest.raises(SourceError, match="no Snowflake credential"):
        list(live(connect=fails_with(AssertionError()), env={"SNOWFLAKE_USER": "U"}).stages())


def test_missing_account_usage_privilege() -> None:
    # An account without the SNOWFLAKE database is what a role without IMPORTED
    # PRIVILEGES sees; fakesnow answers with the same errno (2003) as Snowflake.
    with fakesnow.patch(), pytest.raises(SourceError) as err:
        list(live(role="LINEAGE_RO").events({}))
    assert "ACCOUNT_USAGE.QUERY_HISTORY" in err.value.problem
    assert err.value.fix.startswith(
        "GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE LINEAGE_RO"
    )


class Failing(FakeConnection):
    def __init__(self, error: Exception) -> None:
        super().__init__({})
        self.error = error

    def cursor(self) -> Any:
        error = self.error

        class Cursor(FakeCursor):
            def execute(self, sql: str, params: Any = None) -> None:
                raise error

        return Cursor({})


def test_missing_privilege_as_snowflake_words_it() -> None:
    error = ProgrammingError(
        msg="SQL compilation error:\nSchema 'SNOWFLAKE.ACCOUNT_USAGE' does "
        "not exist or not authorized.",
        errno=2003,
        sqlstate="02000",
    )
    with pytest.raises(SourceError) as err:
        list(live(connect=lambda **_: Failing(error)).copy_loads({}))
    assert "ACCOUNT_USAGE.COPY_HISTORY: not authorized" in err.value.problem
    assert "IMPORTED PRIVILEGES" in err.value.fix


def test_missing_warehouse() -> None:
    error = ProgrammingError(
        msg="No active warehouse selected in the current session.  Select "
        "an active warehouse with the 'use warehouse' command.",
        errno=606,
        sqlstate="57P03",
    )
    with pytest.raises(SourceError) as err:
        list(live(connect=lambda **_: Failing(error)).events({}))
    assert "SNOWFLAKE_WAREHOUSE" in err.value.fix


@pytest.mark.parametrize(
    "setting", [{"page_size": 0}, {"overlap_minutes": "3h"}, {"port": "https"}, {"databases": [1]}]
)
def test_bad_settings_are_source_errors(setting: dict[str, Any]) -> None:
    with pytest.raises(SourceError) as err:
        live(**setting)
    assert next(iter(setting)) in str(err.value)
