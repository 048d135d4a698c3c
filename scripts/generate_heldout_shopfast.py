"""Regenerate fixtures/heldout/scenario_shopfast/postgres/ from a real PostgreSQL 15 server.

A held-out review scenario (an e-commerce / logistics company, "ShopFast"), deliberately
different from the bundled demo in tables, idioms and log settings:

- two log phases on one server, switched with ALTER SYSTEM + pg_reload_conf():
  phase A: stderr only, ``log_line_prefix = '%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h '``
  (pgbadger's prefix, second resolution, no session id), ``log_statement = 'all'`` *and*
  ``log_min_duration_statement = 0`` (statements are logged before they run and their
  durations after);
  phase B: jsonlog only, ``log_statement = 'none'``, ``log_min_duration_statement = 0``
  (parse/bind/execute each get a ``duration:`` line).
- two databases (``shopdb`` with schemas ``sales``/``ops`` and a legacy
  ``public.customers`` that must not be confused with ``sales.customers``; ``wms``);
- ``SET search_path TO sales``; psycopg extended-protocol exports; positional and
  ``=>`` named arguments of ``aws_s3.query_export_to_s3``; ``COPY … TO PROGRAM 'gzip -c |
  aws s3 cp - s3://…'``; a pg_parquet-style ``COPY … TO 's3://…'`` that fails (no
  extension); a temp table exported with ``SELECT *``; psql ``\\copy … TO PROGRAM`` (client
  side: the server sees ``TO STDOUT``); an export whose inner query fails.

Story times (UTC) are written into the logs (see Timeline) so that the exports precede
the Snowflake loads in ../snowflake/.

It also writes ../s3/, a local mirror of the buckets (``[s3] local_root``): the stand-in
``aws`` CLI stores what ``COPY … TO PROGRAM`` (gzip bytes included) and psql's client-side
``\\copy … TO PROGRAM`` pipe into it, the ``query_export_to_s3`` objects are what their inner
queries return (written at the end by a session that logs nothing and is not tracked), and
two Parquet files stand in for Snowflake's unload of MARTS.CUSTOMER_ORDERS (its rows computed
from the same data) and a carrier's event feed. ``.s3meta.json`` pins last-modified times
to the story.

Needs root or the postgres OS user, /usr/lib/postgresql/15/bin (or $S3LINEAGE_PGBIN),
gzip, psycopg and pyarrow.

    python scripts/generate_heldout_shopfast.py [--out fixtures/heldout/scenario_shopfast]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a checkout without installing

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from s3lineage.testing.aws_s3_standins import AWS_S3_DDL
from s3lineage.testing.pgcluster import PrivateCluster

LOG_LINE_PREFIX = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "
SETTINGS: dict[str, str | int | bool] = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    "logging_collector": True,
    "log_destination": "stderr",
    "log_directory": "log",
    "log_filename": "postgresql-%Y-%m-%d_%H%M%S.log",
    "log_statement": "all",
    "log_min_duration_statement": 0,
    "log_parameter_max_length": -1,
    "log_line_prefix": LOG_LINE_PREFIX,
}
BUCKET, REGION = "shopfast-datalake", "eu-west-1"

SHOPDB_DDL = """
CREATE SCHEMA sales;
CREATE SCHEMA ops;
-- a legacy table with the same name in public: unqualified names under
-- search_path = sales must not resolve to it
CREATE TABLE public.customers (id bigint PRIMARY KEY, name text, legacy_flag boolean);
CREATE TABLE sales.customers (customer_id bigint PRIMARY KEY, email text, first_name text,
    last_name text, country_code char(2), signup_at timestamptz NOT NULL);
CREATE TABLE sales.orders (order_id bigint PRIMARY KEY,
    customer_id bigint REFERENCES sales.customers, status text NOT NULL,
    total_cents bigint NOT NULL, currency char(3) NOT NULL, placed_at timestamptz NOT NULL);
CREATE TABLE sales.order_items (order_id bigint REFERENCES sales.orders, line_no int,
    sku text NOT NULL, quantity int NOT NULL, unit_price numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, line_no));
CREATE TABLE sales.payments (payment_id bigint PRIMARY KEY,
    order_id bigint REFERENCES sales.orders, method text, amount numeric(12,2),
    paid_at timestamptz, card_token text);
CREATE TABLE ops.shipments (shipment_id bigint PRIMARY KEY, order_id bigint, carrier text,
    tracking_no text, shipped_at timestamptz, delivered_at timestamptz);
INSERT INTO public.customers SELECT i, 'legacy ' || i, i % 2 = 0 FROM generate_series(1, 5) i;
INSERT INTO sales.customers
SELECT i, CASE WHEN i % 13 = 0 THEN NULL ELSE 'c' || i || '@shop.example' END,
       'First' || i, 'Last' || i, (ARRAY['DE','NL','FR','PL'])[1 + i % 4],
       timestamptz '2024-03-01' + i * interval '9 hours'
FROM generate_series(1, 80) i;
INSERT INTO sales.orders
SELECT i, 1 + i % 80, (ARRAY['placed','shipped','delivered','cancelled'])[1 + i % 4],
       1000 + (i * 731) % 25000, 'EUR', timestamptz '2025-02-01' + i * interval '2 hours'
FROM generate_series(1, 150) i;
INSERT INTO sales.order_items
SELECT o, l, 'SKU-' || lpad(((o * 7 + l) % 40)::text, 3, '0'), 1 + (o + l) % 3,
       round(((o * 13 + l * 5) % 9000) / 100.0 + 1, 2)
FROM generate_series(1, 150) o, generate_series(1, 2) l;
INSERT INTO sales.payments
SELECT i, i, (ARRAY['card','paypal','klarna'])[1 + i % 3], (1000 + (i * 731) % 25000) / 100.0,
       timestamptz '2025-02-01 00:30' + i * interval '2 hours', 'tok_' || md5(i::text)
FROM generate_series(1, 140) i;
INSERT INTO ops.shipments
SELECT i, i, (ARRAY['DHL','PostNL','DPD'])[1 + i % 3], 'TRK' || lpad(i::text, 8, '0'),
       timestamptz '2025-02-02' + i * interval '3 hours',
       CASE WHEN i % 5 = 0 THEN NULL ELSE timestamptz '2025-02-04' + i * interval '3 hours' END
FROM generate_series(1, 120) i;
"""

WMS_DDL = """
CREATE TABLE public.inventory (sku text, warehouse_id int, on_hand int NOT NULL,
    reserved int NOT NULL, updated_at timestamptz, PRIMARY KEY (sku, warehouse_id));
CREATE TABLE public.stock_movements (movement_id bigint PRIMARY KEY, sku text,
    warehouse_id int, qty_delta int, moved_at timestamptz);
INSERT INTO public.inventory
SELECT 'SKU-' || lpad(s::text, 3, '0'), w, 20 + (s * w * 7) % 300, (s + w) % 15,
       timestamptz '2025-02-10 23:00' + s * interval '1 minute'
FROM generate_series(0, 39) s, generate_series(1, 3) w;
INSERT INTO public.stock_movements
SELECT i, 'SKU-' || lpad((i % 40)::text, 3, '0'), 1 + i % 3, (i % 11) - 5,
       timestamptz '2025-02-10' + i * interval '17 minutes'
FROM generate_series(1, 90) i;
"""

# --- phase A: stderr, log_statement = all + log_min_duration_statement = 0 ----------

# E1: psycopg (extended protocol), unqualified table under search_path = sales,
# positional options argument (no `options :=`)
CUSTOMERS_EXPORT = (
    "SELECT * FROM aws_s3.query_export_to_s3(%s, aws_commons.create_s3_uri(%s, %s, %s), %s)"
)
CUSTOMERS_QUERY = ("SELECT customer_id, email, country_code, signup_at FROM customers "
                   "WHERE email IS NOT NULL")

# E2–E4 in one psql session: a success, a failure, then a temp table exported
ORDERS_SESSION = f"""SET search_path TO sales, public;
-- E2: orders, gzip-compressed through a pipe, expressions and aliases in the projection
COPY (SELECT o.order_id, o.customer_id, o.status AS order_status,
             o.total_cents / 100.0 AS total_amount, o.currency, o.placed_at
      FROM orders o
      WHERE o.placed_at < '2025-02-10')
  TO PROGRAM 'gzip -c | aws s3 cp - s3://{BUCKET}/landing/orders/2025/02/10/orders.csv.gz'
  WITH (FORMAT csv, HEADER true);
-- E3: pg_parquet style; the extension is not installed, so this fails
COPY sales.order_items TO 's3://{BUCKET}/landing/order_items/order_items.parquet' WITH (format 'parquet');
-- E4: a temp table, then SELECT * of it exported
CREATE TEMP TABLE tmp_order_lines AS
SELECT oi.order_id, oi.line_no, oi.sku, oi.quantity, oi.quantity * oi.unit_price AS line_total
FROM order_items oi JOIN orders o ON o.order_id = oi.order_id
WHERE o.status <> 'cancelled';
SELECT * FROM aws_s3.query_export_to_s3('SELECT * FROM tmp_order_lines ORDER BY order_id, line_no',
    aws_commons.create_s3_uri('{BUCKET}', 'landing/order_lines/order_lines_2025-02-10.csv', '{REGION}'),
    'format csv, header true');
"""

# E5: named arguments with =>; E6: psql \\copy to a client-side program (server: TO STDOUT)
SHIPMENTS_SESSION = f"""SELECT * FROM aws_s3.query_export_to_s3(
    query => 'SELECT shipment_id, order_id, carrier, tracking_no, shipped_at FROM ops.shipments WHERE shipped_at IS NOT NULL',
    s3_info => aws_commons.create_s3_uri('{BUCKET}', 'landing/shipments/shipments_2025-02-10.csv', '{REGION}'),
    options => 'format csv, header true');
\\copy (SELECT shipment_id, tracking_no FROM ops.shipments WHERE carrier = 'DHL') TO PROGRAM 'aws s3 cp - s3://{BUCKET}/adhoc/dhl_tracking.csv' WITH csv
SELECT carrier, count(*) FROM ops.shipments GROUP BY carrier;
"""

# --- phase B: jsonlog, log_statement = none, log_min_duration_statement = 0 ---------

# E7: JSON lines via row_to_json, gzip pipe; card_token is not exported
PAYMENTS_SESSION = f"""SET search_path = sales;
COPY (SELECT row_to_json(p) FROM (SELECT payment_id, order_id, method, amount, paid_at FROM payments) p)
  TO PROGRAM 'gzip -c | aws s3 cp - s3://{BUCKET}/landing/payments/payments_2025-02-10.json.gz';
SELECT count(*) FROM payments WHERE paid_at >= '2025-02-10';
"""
# E8: the inner query fails (no such table): no lineage
REFUNDS_SESSION = f"""SELECT * FROM aws_s3.query_export_to_s3('SELECT refund_id, amount FROM sales.refunds',
    aws_commons.create_s3_uri('{BUCKET}', 'landing/refunds/refunds.csv', '{REGION}'),
    options := 'format csv, header true');
"""
# E9: database wms, psycopg, the (query, bucket, path, region, options) overload, written
# under the stage's *new* location landing-v2/
INVENTORY_EXPORT = "SELECT * FROM aws_s3.query_export_to_s3(%s, %s, %s, %s, %s)"
INVENTORY_QUERY = ("SELECT sku, warehouse_id, on_hand - reserved AS available, updated_at "
                   "FROM inventory")
# E10: whole-table COPY to a program; nobody loads it (dangling)
STOCK_SESSION = f"""COPY public.stock_movements TO PROGRAM 'aws s3 cp - s3://{BUCKET}/landing-v2/stock_movements/stock_movements_2025-02-11.csv' WITH (FORMAT csv, HEADER);
"""

PGSS_QUERY = (
    "SELECT s.userid::regrole AS usename, d.datname, s.toplevel, s.queryid, s.query, s.calls, "
    "s.rows FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
    "ORDER BY d.datname, s.queryid"
)
COLUMNS_QUERY = (
    "SELECT table_catalog, table_schema, table_name, column_name, ordinal_position, data_type "
    "FROM information_schema.columns WHERE table_schema IN ('public', 'sales', 'ops') "
    "ORDER BY table_schema, table_name, ordinal_position"
)


def psql_session(pg: PrivateCluster, script: str, *, dbname: str = "shopdb",
                 expect_error: bool = False, env: dict[str, str] | None = None) -> None:
    proc = pg.psql("-q", "-f", "-", dbname=dbname, input=script, env=env)
    failed = proc.returncode != 0 or "ERROR" in proc.stderr
    if failed != expect_error:
        raise RuntimeError(f"psql session {'did not fail' if expect_error else 'failed'}:\n"
                           f"{script}\n{proc.stderr}")


def setup(pg: PrivateCluster) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE shopdb")
        conn.execute("CREATE DATABASE wms")
    for db, ddl in (("shopdb", SHOPDB_DDL), ("wms", WMS_DDL)):
        with psycopg.connect(pg.dsn_for(db), autocommit=True, application_name="setup") as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute(AWS_S3_DDL)
            conn.execute(ddl)
    with psycopg.connect(pg.dsn_for("shopdb"), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")  # all databases


class Timeline:
    """Maps real log times onto story times, job by job (marks in story order)."""

    _STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d{3})? UTC")
    _JSON_SESSION = re.compile(r'"session_id":"([0-9a-f]+)\.([0-9a-f]+)"')
    _JSON_START = re.compile(r'"session_start":"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC"')

    def __init__(self) -> None:
        self.marks: list[tuple[float, datetime]] = []

    def mark(self, story_time: str) -> None:
        # %t stamps have whole seconds: keep every mark in a second of its own, so a line's
        # second tells which job it belongs to
        time.sleep(1.1)
        self.marks.append((time.time(), datetime.fromisoformat(story_time).replace(tzinfo=UTC)))
        time.sleep(1.1)

    def story(self, real: float) -> datetime:
        base_real, base_story = self.marks[0]
        for mark_real, mark_story in self.marks:
            if real >= mark_real - 0.001:
                base_real, base_story = mark_real, mark_story
        return base_story + timedelta(seconds=real - base_real)

    def _stamp(self, m: re.Match[str]) -> str:
        real = datetime.fromisoformat(m[1] + (m[2] or "")).replace(tzinfo=UTC).timestamp()
        story = self.story(real)
        if m[2] is None:
            return story.strftime("%Y-%m-%d %H:%M:%S UTC")
        return story.strftime("%Y-%m-%d %H:%M:%S.") + f"{story.microsecond // 1000:03d} UTC"

    def rewrite(self, text: str) -> str:
        out = []
        for line in text.splitlines(keepends=True):
            start = self._JSON_START.search(line)
            session = self._JSON_SESSION.search(line)
            if start and session:  # the session id starts with the session start (hex epoch)
                real = datetime.fromisoformat(start[1]).replace(tzinfo=UTC).timestamp()
                story = int(self.story(real).timestamp())
                line = line[: session.start(1)] + f"{story:x}" + line[session.end(1):]
            out.append(self._STAMP.sub(self._stamp, line))
        return "".join(out)


def workload(pg: PrivateCluster, clock: Timeline, client_env: dict[str, str]) -> None:
    # ---- phase A (stderr)
    for day in ("2025-02-09", "2025-02-10"):
        clock.mark(f"{day} 01:00:00")
        with psycopg.connect(pg.dsn_for("shopdb"), autocommit=True,
                             application_name="customer export job") as conn:
            conn.execute("SET search_path TO sales")
            conn.execute(CUSTOMERS_EXPORT, (
                CUSTOMERS_QUERY, BUCKET, f"landing/customers/load_date={day}/customers.csv",
                REGION, "format csv, header true"))
    clock.mark("2025-02-10 01:20:00")
    psql_session(pg, ORDERS_SESSION, expect_error=True)  # E3 fails, E2 and E4 succeed
    clock.mark("2025-02-10 01:40:00")
    psql_session(pg, SHIPMENTS_SESSION, env=client_env)
    clock.mark("2025-02-10 09:15:00")
    with psycopg.connect(pg.dsn_for("shopdb"), autocommit=True,
                         application_name="bi dashboard") as conn:  # read-only
        conn.execute("SELECT count(*) FROM sales.orders WHERE status = %s", ("placed",))
        with conn.cursor().copy("COPY (SELECT order_id, status FROM sales.orders) TO STDOUT") as cp:
            for _ in cp:
                pass

    # ---- switch to jsonlog, durations only
    clock.mark("2025-02-10 20:00:00")
    with psycopg.connect(pg.dsn, autocommit=True, application_name="dba") as conn:
        conn.execute("ALTER SYSTEM SET log_destination = 'jsonlog'")
        conn.execute("ALTER SYSTEM SET log_statement = 'none'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(1.5)

    # ---- phase B (jsonlog)
    clock.mark("2025-02-10 20:30:00")
    psql_session(pg, PAYMENTS_SESSION)
    clock.mark("2025-02-10 20:45:00")
    psql_session(pg, REFUNDS_SESSION, expect_error=True)
    clock.mark("2025-02-11 02:00:00")
    with psycopg.connect(pg.dsn_for("wms"), autocommit=True, application_name="wms-sync") as conn:
        conn.execute(INVENTORY_EXPORT, (INVENTORY_QUERY, BUCKET,
                                        "landing-v2/inventory/inventory_2025-02-11.csv", REGION,
                                        "format csv, header true"))
    clock.mark("2025-02-11 02:10:00")
    psql_session(pg, STOCK_SESSION, dbname="wms")


def copy_out(conn: psycopg.Connection, query: str, target: Path, *, header: bool = True,
             mode: str = "wb") -> None:
    opts = "FORMAT csv, HEADER" if header else "FORMAT csv"
    with target.open(mode) as f, conn.cursor().copy(f"COPY ({query}) TO STDOUT WITH ({opts})") as cp:
        for chunk in cp:
            f.write(chunk)


def mirror_aws_cli(directory: Path, mirror: Path) -> Path:
    """``<directory>/bin/aws``: ``aws s3 cp - s3://b/k`` stores stdin as ``<mirror>/b/k``.

    Used by the server (COPY … TO PROGRAM runs as the postgres OS user) and by psql's
    client-side ``\\copy … TO PROGRAM``, so both dirs are world-writable/traversable.
    """
    bindir = directory / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    mirror.mkdir(parents=True, exist_ok=True)
    mirror.chmod(0o777)
    aws = bindir / "aws"
    aws.write_text(
        "#!/bin/sh\n"
        "# stand-in for `aws s3 cp - s3://bucket/key`: keeps the bytes in a local mirror\n"
        'for a in "$@"; do case "$a" in s3://*) url="$a";; esac; done\n'
        f'dest="{mirror}/${{url#s3://}}"\n'
        'umask 000; mkdir -p "$(dirname "$dest")" && cat > "$dest"\n')
    aws.chmod(0o755)
    directory.chmod(0o755)
    return bindir


# Objects of the aws_s3.query_export_to_s3 calls (the stand-in function uploads nothing):
# what each inner query returns, written as the call's options say (csv with header).
# (database, search_path, key, inner query)
QUERY_EXPORT_OBJECTS = [
    ("shopdb", "sales", "landing/customers/load_date=2025-02-09/customers.csv", CUSTOMERS_QUERY),
    ("shopdb", "sales", "landing/customers/load_date=2025-02-10/customers.csv", CUSTOMERS_QUERY),
    ("shopdb", "sales", "landing/order_lines/order_lines_2025-02-10.csv",
     ("SELECT oi.order_id, oi.line_no, oi.sku, oi.quantity, oi.quantity * oi.unit_price "
      "AS line_total FROM order_items oi JOIN orders o ON o.order_id = oi.order_id "
      "WHERE o.status <> 'cancelled' ORDER BY oi.order_id, oi.line_no")),
    ("shopdb", "public", "landing/shipments/shipments_2025-02-10.csv",
     ("SELECT shipment_id, order_id, carrier, tracking_no, shipped_at FROM ops.shipments "
      "WHERE shipped_at IS NOT NULL")),
    ("wms", "public", "landing-v2/inventory/inventory_2025-02-11.csv", INVENTORY_QUERY),
]
# MARTS.CUSTOMER_ORDERS as Snowflake's CTAS computes it from the loaded files, unloaded with
# WHERE ORDER_COUNT > 0 (customers and orders as exported: E1's filter, E2's filter)
CUSTOMER_LTV_QUERY = """
SELECT c.customer_id, c.country_code, sum(o.total_cents / 100.0) AS lifetime_value
FROM sales.customers c JOIN sales.orders o ON o.customer_id = c.customer_id
WHERE c.email IS NOT NULL AND o.placed_at < '2025-02-10'
GROUP BY c.customer_id, c.country_code ORDER BY c.customer_id"""
MIRROR_TIMES = {  # key → story time of the write (UTC)
    "shopfast-datalake/landing/customers/load_date=2025-02-09/customers.csv": "2025-02-09T01:00:01+00:00",
    "shopfast-datalake/landing/customers/load_date=2025-02-10/customers.csv": "2025-02-10T01:00:01+00:00",
    "shopfast-datalake/landing/orders/2025/02/10/orders.csv.gz": "2025-02-10T01:20:01+00:00",
    "shopfast-datalake/landing/order_lines/order_lines_2025-02-10.csv": "2025-02-10T01:20:02+00:00",
    "shopfast-datalake/landing/shipments/shipments_2025-02-10.csv": "2025-02-10T01:40:01+00:00",
    "shopfast-datalake/adhoc/dhl_tracking.csv": "2025-02-10T01:40:02+00:00",
    "shopfast-datalake/landing/payments/payments_2025-02-10.json.gz": "2025-02-10T20:30:01+00:00",
    "shopfast-datalake/landing-v2/inventory/inventory_2025-02-11.csv": "2025-02-11T02:00:01+00:00",
    "shopfast-datalake/landing-v2/stock_movements/stock_movements_2025-02-11.csv": "2025-02-11T02:10:01+00:00",
    "shopfast-datalake/marts/customer_ltv/data_0_0_0.snappy.parquet": "2025-02-11T05:00:02+00:00",
    "shopfast-carrier-feed/events/2025/02/11/events_0.parquet": "2025-02-11T06:10:00+00:00",
}


def quiet_session(pg: PrivateCluster, db: str) -> psycopg.Connection:
    """A session that leaves no trace in the logs or pg_stat_statements."""
    conn = psycopg.connect(pg.dsn_for(db), autocommit=True, application_name="fixture_mirror")
    conn.execute("SET log_statement = 'none'; SET log_min_duration_statement = -1; "
                 "SET pg_stat_statements.track = 'none'")
    return conn


def write_mirror_objects(pg: PrivateCluster, mirror: Path) -> int:
    """The query_export_to_s3 objects and the two Parquet files; returns the unload's rows."""
    for db, search_path, key, query in QUERY_EXPORT_OBJECTS:
        with quiet_session(pg, db) as conn:
            conn.execute(f"SET search_path TO {search_path}")
            target = mirror / "shopfast-datalake" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_out(conn, query, target)
    with quiet_session(pg, "shopdb") as conn:
        rows = conn.execute(CUSTOMER_LTV_QUERY).fetchall()
        tracking = [r[0] for r in conn.execute(
            "SELECT tracking_no FROM ops.shipments ORDER BY shipment_id LIMIT 40").fetchall()]
    ltv = pa.table({  # Snowflake unloads with HEADER=TRUE keep the column names
        "CUSTOMER_ID": pa.array([int(r[0]) for r in rows], pa.int64()),
        "COUNTRY_CODE": pa.array([r[1] for r in rows], pa.string()),
        "LIFETIME_VALUE": pa.array([float(r[2]) for r in rows], pa.float64()),
    })
    target = mirror / "shopfast-datalake" / "marts/customer_ltv/data_0_0_0.snappy.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(ltv, target, compression="snappy")
    base = datetime(2025, 2, 11, tzinfo=UTC)
    events = pa.table({  # a carrier's drop; nobody we read writes it
        "tracking_no": tracking * 3,
        "event_type": ["picked_up"] * 40 + ["in_transit"] * 40 + ["delivered"] * 40,
        "event_at": [base + timedelta(minutes=7 * i) for i in range(120)],
        "location": ["Venlo" if i % 2 else "Utrecht" for i in range(120)],
    })
    target = mirror / "shopfast-carrier-feed" / "events/2025/02/11/events_0.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(events, target, compression="snappy")
    return len(rows)


def generate(out: Path) -> None:
    started = time.monotonic()
    pg_out, s3_out = out / "postgres", out / "s3"
    with tempfile.TemporaryDirectory() as tmp:
        mirror = Path(tmp) / "s3"
        bindir = mirror_aws_cli(Path(tmp), mirror)
        client_env = {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
        clock = Timeline()
        clock.mark("2025-02-08 22:00:00")  # initdb, start, setup
        with PrivateCluster(settings=SETTINGS, server_path=[bindir]) as pg:
            setup(pg)
            workload(pg, clock, client_env)
            clock.mark("2025-02-11 06:45:00")
            unloaded = write_mirror_objects(pg, mirror)
            (pg_out / "logs").mkdir(parents=True, exist_ok=True)
            for old in (pg_out / "logs").iterdir():
                old.unlink()
            with psycopg.connect(pg.dsn_for("shopdb"), autocommit=True,
                                 application_name="fixture_export") as conn:
                copy_out(conn, PGSS_QUERY, pg_out / "pg_stat_statements.csv")
                copy_out(conn, COLUMNS_QUERY, pg_out / "pg_columns.csv")
            with psycopg.connect(pg.dsn_for("wms"), autocommit=True,
                                 application_name="fixture_export") as conn:
                copy_out(conn, COLUMNS_QUERY, pg_out / "pg_columns.csv", header=False, mode="ab")
            pg.stop()
            logs = sorted(pg.log_dir.iterdir())
            stems = {"log": "postgresql-2025-02-08_220000.log",
                     "json": "postgresql-2025-02-10_200000.json"}
            for path in logs:
                ext = path.suffix.lstrip(".")
                text = path.read_text(encoding="utf-8")
                if ext not in stems or not text.strip():
                    continue
                (pg_out / "logs" / stems.pop(ext)).write_text(clock.rewrite(text), encoding="utf-8")
            if stems:
                raise RuntimeError(f"missing logs {stems} among {[p.name for p in logs]}")
        found = sorted(str(p.relative_to(mirror)) for p in mirror.rglob("*") if p.is_file())
        if found != sorted(MIRROR_TIMES):
            raise RuntimeError(f"mirror objects {found} != {sorted(MIRROR_TIMES)}")
        with gzip.open(mirror / "shopfast-datalake/landing/orders/2025/02/10/orders.csv.gz") as f:
            if not io.TextIOWrapper(f).readline().startswith("order_id,"):
                raise RuntimeError("orders.csv.gz is not a gzipped CSV with a header")
        shutil.rmtree(s3_out, ignore_errors=True)
        shutil.copytree(mirror, s3_out)
        meta = {key: {"last_modified": when} for key, when in sorted(MIRROR_TIMES.items())}
        (s3_out / ".s3meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out} in {time.monotonic() - started:.1f}s; "
          f"the unload of CUSTOMER_ORDERS has {unloaded} rows (ROWS_UNLOADED in query_history)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=ROOT / "fixtures" / "heldout" / "scenario_shopfast")
    args = parser.parse_args(argv)
    if not PrivateCluster.available():
        print("PostgreSQL server binaries not found (set S3LINEAGE_PGBIN)", file=sys.stderr)
        return 1
    generate(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
