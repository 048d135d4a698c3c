"""Regenerate fixtures/demo/postgres/ from a real PostgreSQL 15 server.

Starts a private cluster (s3lineage.testing.pgcluster), installs stand-ins for RDS's
aws_s3/aws_commons and a fake `aws` CLI, runs the demo workload of
fixtures/demo/README.md, and copies out the server logs (stderr, csvlog, jsonlog), a
pg_stat_statements export and information_schema.columns. Log times are moved onto the
demo's story dates (see Timeline) so that exports precede the Snowflake loads.

Needs root or the postgres OS user, /usr/lib/postgresql/15/bin (or $S3LINEAGE_PGBIN)
and psycopg.

    python scripts/generate_demo_postgres.py [--out fixtures/demo/postgres]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a checkout without installing

import psycopg

from s3lineage.testing.aws_s3_standins import AWS_S3_DDL, fake_aws_cli
from s3lineage.testing.pgcluster import PrivateCluster

LOG_LINE_PREFIX = "%m [%p] %q%u@%d %a "
SETTINGS: dict[str, str | int | bool] = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",  # nested entries too, marked toplevel = false
    "logging_collector": True,
    "log_destination": "stderr,csvlog,jsonlog",
    "log_directory": "log",
    "log_filename": "postgresql",  # → postgresql, postgresql.csv, postgresql.json
    "log_statement": "none",
    "log_min_duration_statement": 0,
    "log_parameter_max_length": -1,
    "log_line_prefix": LOG_LINE_PREFIX,
}
BUCKET, REGION = "fintech-lake", "us-east-1"

TABLES = """
CREATE TABLE public.users (id bigint PRIMARY KEY, email text NOT NULL, full_name text,
    country text, created_at timestamptz NOT NULL);
CREATE TABLE public.accounts (id bigint PRIMARY KEY, user_id bigint REFERENCES public.users,
    currency char(3) NOT NULL, status text NOT NULL, opened_at timestamptz NOT NULL);
CREATE TABLE public.merchants (id bigint PRIMARY KEY, name text NOT NULL, category text,
    country text);
CREATE TABLE public.transactions (id bigint PRIMARY KEY,
    account_id bigint REFERENCES public.accounts, merchant_id bigint REFERENCES public.merchants,
    amount numeric(18,2) NOT NULL, currency char(3) NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE public.audit_log (id bigint PRIMARY KEY, actor text, action text, at timestamptz);
CREATE TABLE public.cards (id bigint PRIMARY KEY, account_id bigint REFERENCES public.accounts,
    pan_last4 char(4), expires date);
INSERT INTO public.users
SELECT i, 'user' || i || '@example.com', 'User ' || i, (ARRAY['DE','FR','US','GB'])[1 + i % 4],
       timestamptz '2024-06-01' + i * interval '1 day'
FROM generate_series(1, 40) i;
INSERT INTO public.accounts
SELECT i, 1 + i % 40, (ARRAY['EUR','USD','GBP'])[1 + i % 3],
       CASE WHEN i % 7 = 0 THEN 'closed' ELSE 'active' END,
       timestamptz '2024-07-01' + i * interval '1 day'
FROM generate_series(1, 60) i;
INSERT INTO public.merchants VALUES
    (1, 'Corner Bakery', 'food', 'DE'), (2, 'O''Brien''s Pub', 'bars', 'GB'),
    (3, 'Metro Transit', 'transport', 'FR'), (4, 'Cloud Hosting Inc', 'software', 'US');
INSERT INTO public.transactions
SELECT i, 1 + i % 60, 1 + i % 4, round((i * 7.31)::numeric % 500, 2),
       (ARRAY['EUR','USD','GBP'])[1 + i % 3],
       timestamptz '2025-01-14' + i * interval '7 minutes'
FROM generate_series(1, 500) i;
INSERT INTO public.audit_log
SELECT i, 'admin' || i % 3, (ARRAY['login','export','grant'])[1 + i % 3],
       timestamptz '2025-01-15' + i * interval '1 hour'
FROM generate_series(1, 20) i;
INSERT INTO public.cards
SELECT i, 1 + i % 60, lpad((i * 37 % 10000)::text, 4, '0'), date '2027-01-01' + i
FROM generate_series(1, 30) i;
"""


def users_export(day: str) -> str:
    """Export 1, as a nightly psql job writes it (multi-line, named options)."""
    return f"""-- nightly users export
SELECT * FROM aws_s3.query_export_to_s3(
    'SELECT id, email, full_name, country, created_at FROM public.users',
    aws_commons.create_s3_uri('{BUCKET}', 'exports/users/dt={day}/users.csv', '{REGION}'),
    options := 'format csv, header true'
);
"""


ACCOUNTS_EXPORT = (  # export 2: the (query, bucket, path, region) overload
    "SELECT * FROM aws_s3.query_export_to_s3("
    "'SELECT a.id, a.user_id, a.currency, a.status, a.opened_at FROM accounts a "
    "WHERE a.status <> ''closed''', "
    f"'{BUCKET}', 'exports/accounts/accounts_2025-01-15.csv', '{REGION}', "
    "options := 'format csv, header true')"
)
TRANSACTIONS_EXPORT = (  # export 3: server-side COPY piped into the aws CLI
    "COPY (SELECT id, account_id, merchant_id, amount, currency, created_at FROM transactions) "
    f"TO PROGRAM 'aws s3 cp - s3://{BUCKET}/exports/transactions/2025/01/15/{{part}}' "
    "WITH (FORMAT csv, HEADER)"
)
MERCHANTS_EXPORT = (  # export 4: sent with bind parameters (extended protocol)
    "SELECT * FROM aws_s3.query_export_to_s3(%s, aws_commons.create_s3_uri(%s, %s, %s), "
    "options := %s)"
)
DAILY_BALANCES_EXPORT = f"""SELECT * FROM aws_s3.query_export_to_s3(
    $q$SELECT account_id, date_trunc('day', created_at) AS day, sum(amount) AS balance_change FROM transactions GROUP BY 1, 2$q$,
    aws_commons.create_s3_uri('{BUCKET}', 'exports/daily_balances/daily_balances_2025-01-15.csv', '{REGION}'),
    options := 'format csv, header true');
"""  # export 5: dollar-quoted inner SQL
AUDIT_EXPORT = f"""SELECT aws_commons.create_s3_uri('{BUCKET}', 'exports/audit_log/audit_log.csv', '{REGION}') AS s3_uri_1 \\gset
SELECT * FROM aws_s3.query_export_to_s3('SELECT id, actor, action, at FROM audit_log', :'s3_uri_1', options := 'format csv');
"""  # export 6: the RDS docs' \\gset pattern sends the composite literal '(bucket,path,region)'
CARDS_EXPORT = f"""SELECT * FROM aws_s3.query_export_to_s3('SELECT id, pan FROM cards',
    aws_commons.create_s3_uri('{BUCKET}', 'exports/cards/cards.csv', '{REGION}'),
    options := 'format csv, header true');
"""  # export 7: fails, column pan does not exist
READ_ONLY = """SELECT count(*) FROM public.users;
SELECT country, count(*) FROM public.users GROUP BY country ORDER BY 2 DESC;
\\copy (SELECT id, email FROM public.users WHERE country = 'DE') TO STDOUT WITH csv
"""  # export 8: reads only; psql's \\copy reaches the server as COPY … TO STDOUT

PGSS_QUERY = (
    "SELECT s.userid::regrole AS usename, d.datname, s.toplevel, s.queryid, s.query, s.calls, "
    "s.rows FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
    "ORDER BY s.toplevel DESC, s.queryid"
)
COLUMNS_QUERY = (
    "SELECT table_catalog, table_schema, table_name, column_name, ordinal_position, data_type "
    "FROM information_schema.columns WHERE table_schema = 'public' "
    "ORDER BY table_name, ordinal_position"
)


def psql_session(pg: PrivateCluster, script: str, *, expect_error: bool = False) -> None:
    """Run ``script`` through the real psql client, as one session."""
    proc = pg.psql("-q", "-f", "-", dbname="appdb", input=script)
    failed = proc.returncode != 0 or "ERROR" in proc.stderr
    if failed != expect_error:
        raise RuntimeError(f"psql session {'did not fail' if expect_error else 'failed'}:\n"
                           f"{script}\n{proc.stderr}")


def setup(pg: PrivateCluster) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE appdb")
    with psycopg.connect(pg.dsn_for("appdb"), autocommit=True,
                         application_name="setup") as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute(AWS_S3_DDL)
        conn.execute(TABLES)
        conn.execute("SELECT pg_stat_statements_reset()")


class Timeline:
    """Moves the run's wall clock onto the demo's story dates, job by job.

    The Snowflake demo loads these files on 2025-01-14..16 around 02:05 UTC, so each job
    is stamped shortly before its load. ``mark`` starts a job; log times after it map to
    its story time plus the real time elapsed. Marks must be in story order, so the
    mapping is monotonic and the logs stay in time order.
    """

    _STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d{3})? UTC")
    # csvlog: session_id follows connection_from; jsonlog: "session_id":"…"
    _SESSION = re.compile(
        r'(?:^[^"\n]*?,(?:"[^"]*")?,(?:"[^"]*")?,\d*,(?:"[^"]*")?,|"session_id":")'
        r"([0-9a-f]+)\.([0-9a-f]+)"
    )

    def __init__(self) -> None:
        self.marks: list[tuple[float, datetime]] = []

    def mark(self, story_time: str) -> None:
        self.marks.append((time.time(), datetime.fromisoformat(story_time).replace(tzinfo=UTC)))

    def story(self, real: float) -> datetime:
        base_real, base_story = self.marks[0]
        for mark_real, mark_story in self.marks:
            if real >= mark_real:
                base_real, base_story = mark_real, mark_story
        return base_story + timedelta(seconds=real - base_real)

    def rewrite(self, text: str) -> str:
        """Every log timestamp; in csv/json also session starts and the ids built on them."""
        starts: dict[str, datetime] = {}  # session id → story start (its first line)
        return "".join(self._line(line, starts) for line in text.splitlines(keepends=True))

    def _line(self, line: str, starts: dict[str, datetime]) -> str:
        session = self._SESSION.search(line)
        first = self._STAMP.search(line)
        start = None
        if session and first and first[2]:
            real = datetime.fromisoformat(first[1] + first[2]).replace(tzinfo=UTC).timestamp()
            start = starts.setdefault(session[0], self.story(real).replace(microsecond=0))
            line = (line[: session.start(1)] + f"{int(start.timestamp()):x}"
                    + line[session.end(1):])

        def stamp(m: re.Match[str]) -> str:
            nonlocal start
            if m[2] is None and start is not None:  # the row's session_start field
                story, start = start, None
            else:
                real = datetime.fromisoformat(m[1] + (m[2] or "")).replace(tzinfo=UTC)
                story = self.story(real.timestamp())
            if m[2] is None:
                return story.strftime("%Y-%m-%d %H:%M:%S UTC")
            return story.strftime("%Y-%m-%d %H:%M:%S.") + f"{story.microsecond // 1000:03d} UTC"

        return self._STAMP.sub(stamp, line)


def workload(pg: PrivateCluster, clock: Timeline) -> None:
    """The demo exports 1–8 of fixtures/demo/README.md, one client session per job."""
    for day in ("2025-01-14", "2025-01-15"):
        clock.mark(f"{day} 01:00:00")
        psql_session(pg, users_export(day))
    clock.mark("2025-01-15 01:30:00")
    with psycopg.connect(pg.dsn_for("appdb"), autocommit=True,
                         application_name="nightly_export") as conn:
        conn.execute("SET search_path TO public")  # exports 2 and 3 use unqualified names
        conn.execute(ACCOUNTS_EXPORT)
        for part in ("part-000.csv", "part-001.csv"):
            conn.execute(TRANSACTIONS_EXPORT.format(part=part))
    clock.mark("2025-01-15 01:40:00")
    with psycopg.connect(pg.dsn_for("appdb"), autocommit=True,
                         application_name="merchant_sync") as conn:
        conn.execute(MERCHANTS_EXPORT, ("SELECT id, name, category, country FROM public.merchants",
                                        BUCKET, "exports/merchants/merchants.csv", REGION,
                                        "format csv, header true"))
        # read-only, but shows how quotes and NULL look among logged bind parameters
        conn.execute("SELECT count(*) FROM public.merchants WHERE name <> %s "
                     "OR category IS NOT DISTINCT FROM %s", ("O'Brien's Pub", None))
        with conn.cursor().copy("COPY (SELECT id, name FROM public.merchants) TO STDOUT") as cp:
            for _ in cp:
                pass
    clock.mark("2025-01-15 01:50:00")
    psql_session(pg, DAILY_BALANCES_EXPORT)
    clock.mark("2025-01-15 01:55:00")
    psql_session(pg, AUDIT_EXPORT)
    clock.mark("2025-01-15 01:58:00")
    psql_session(pg, CARDS_EXPORT, expect_error=True)
    clock.mark("2025-01-15 10:12:00")
    psql_session(pg, READ_ONLY)
    clock.mark("2025-01-16 01:00:00")
    psql_session(pg, users_export("2025-01-16"))


def copy_out(conn: psycopg.Connection, query: str, target: Path) -> None:
    with target.open("wb") as f, conn.cursor().copy(
            f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as cp:
        for chunk in cp:
            f.write(chunk)


def generate(out: Path) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        bindir = fake_aws_cli(tmp)  # stands in for `aws s3 cp - s3://…`: swallows the data
        clock = Timeline()
        clock.mark("2025-01-13 22:00:00")  # initdb, server start and setup
        with PrivateCluster(settings=SETTINGS, server_path=[bindir]) as pg:
            setup(pg)
            workload(pg, clock)
            clock.mark("2025-01-16 06:00:00")
            with psycopg.connect(pg.dsn_for("appdb"), autocommit=True,
                                 application_name="fixture_export") as conn:
                out.mkdir(parents=True, exist_ok=True)
                copy_out(conn, PGSS_QUERY, out / "pg_stat_statements.csv")
                copy_out(conn, COLUMNS_QUERY, out / "pg_columns.csv")
            pg.stop()  # a clean stop makes the log collector flush everything
            for name, target in (("postgresql", "postgresql.log"),
                                 ("postgresql.csv", "postgresql.csv"),
                                 ("postgresql.json", "postgresql.json")):
                text = (pg.log_dir / name).read_text(encoding="utf-8")
                (out / target).write_text(clock.rewrite(text), encoding="utf-8")
    print(f"wrote {out} in {time.monotonic() - started:.1f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "fixtures" / "demo" / "postgres")
    args = parser.parse_args(argv)
    if not PrivateCluster.available():
        print("PostgreSQL server binaries not found (set S3LINEAGE_PGBIN)", file=sys.stderr)
        return 1
    generate(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
