"""The graph's S3 layer joined with what the bucket holds (local mirror; no server)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from s3lineage.cli import main
from s3lineage.config import load_config
from s3lineage.runner import run

from .conftest import FIXTURES

LAKE = "s3://fintech-lake/"
SF = "snowflake://fintech-prod/"


@pytest.fixture(scope="module")
def demo():
    return run(load_config(FIXTURES / "demo" / "lineage.toml"), dry_run=True).result


def test_demo_s3_layer_has_real_schemas_sizes_and_freshness(demo):
    users = demo.graph.node(LAKE + "exports/users/dt={dt}/users.csv")
    assert users.metadata["objects"] == 3
    assert users.metadata["last_modified"] == "2025-01-16T01:00:01+00:00"
    assert all(m.size and m.etag and m.last_modified for m in users.members.values())
    assert users.fields == ["id", "email", "full_name", "country", "created_at"]  # the export's
    report = demo.graph.node(LAKE + "reports/dim_users/")
    assert report.metadata["format"] == "parquet" and report.metadata["rows"] == 1204
    assert report.metadata["schema"] == ["USER_ID", "COUNTRY", "ACCOUNT_COUNT"]
    assert "reports/dim_users/data_0_0_0.snappy.parquet" in report.members
    audit = demo.graph.node(LAKE + "exports/audit_log/audit_log.csv")
    assert audit.metadata["schema_header"] is False  # exported without HEADER


def test_vendor_file_fields_become_real_names_through_the_load(demo):
    fx = demo.graph.node(LAKE + "vendor/fx_rates/fx_{date}.csv")
    assert fx.fields == ["currency", "rate", "as_of"]
    columns = demo.graph.column_graph()
    assert columns.has_edge((fx.id, "currency"), (SF + "RAW.LANDING.FX_RATES", "CURRENCY"))
    assert not any(f.startswith("$") for _, f in columns.predecessors(
        (SF + "RAW.LANDING.FX_RATES", "RATE")))


def test_demo_reports_the_drifted_partition_and_nothing_else(demo):
    s3_codes = [e for e in demo.diagnostics.entries() if e.code.startswith("s3_")
                and e.code not in ("s3_written_not_loaded", "s3_loaded_not_written")]
    assert [e.code for e in s3_codes] == ["s3_schema_drift"]
    message = s3_codes[0].message
    assert "exports/users/dt=2025-01-16/users.csv" in message
    assert "missing country; extra country_code, marketing_opt_in" in message
    assert "RAW.LANDING.USERS: columns shift" in message


def test_discover_s3_dry_run_on_the_demo_mirror(capsys):
    assert main(["discover-s3", "--config", str(FIXTURES / "demo" / "lineage.toml"),
                 "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    templates = {d["template"]: d for d in out["datasets"]}
    assert out["summary"]["objects"] == 11
    assert len(templates["exports/users/dt={dt}/users.csv"]["schemas"]) == 2


# --- reconciliation on a small made-up account ---------------------------------------------

HISTORY = [
    # (query id, text, type, start, rows)
    ("q1", ("COPY INTO 's3://lake/out/orders/' FROM (SELECT ID, AMOUNT FROM DB.S.ORDERS) "
           "FILE_FORMAT=(TYPE=CSV) HEADER=TRUE"), "UNLOAD", "2025-01-10 01:00:00 +0000", 10),
    ("q2", ("COPY INTO DB.S.ORDERS_COPY FROM 's3://lake/out/orders/' "
           "FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)"), "COPY", "2025-01-10 02:00:00 +0000", 8),
    ("q3", ("COPY INTO DB.S.LATE_COPY FROM 's3://lake/out/late/' "
           "FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)"), "COPY", "2025-01-11 02:00:00 +0000", 5),
    ("q4", ("COPY INTO 's3://lake/out/late/' FROM (SELECT ID FROM DB.S.LATE) "
           "FILE_FORMAT=(TYPE=CSV) HEADER=TRUE"), "UNLOAD", "2025-01-12 01:00:00 +0000", 5),
    ("q5", ("COPY INTO 's3://lake/out/gone/' FROM (SELECT ID FROM DB.S.GONE) "
           "FILE_FORMAT=(TYPE=CSV) HEADER=TRUE"), "UNLOAD", "2025-01-12 03:00:00 +0000", 3),
]
MIRROR = {  # key: (body, last modified)
    "lake/out/orders/data_0_0_0.csv": ("ID,AMOUNT\n" + "".join(f"{i},1.0\n" for i in range(10)),
                                       "2025-01-10T01:00:05+00:00"),
    "lake/out/late/data_0_0_0.csv": ("ID\n1\n2\n", "2025-01-12T01:00:05+00:00"),
    "lake/tmp/junk_1.csv": ("whatever\n", "2025-01-01T00:00:00+00:00"),
    "lake/tmp/junk_2.csv": ("whatever\n", "2025-01-02T00:00:00+00:00"),
}


def make_account(tmp_path: Path, s3_extra: str = "") -> Path:
    with open(tmp_path / "query_history.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["QUERY_ID", "QUERY_TEXT", "DATABASE_NAME", "SCHEMA_NAME", "QUERY_TYPE",
                         "EXECUTION_STATUS", "START_TIME", "ROWS_UNLOADED", "ROWS_INSERTED"])
        for qid, text, kind, start, rows in HISTORY:
            unloaded, inserted = (rows, 0) if kind == "UNLOAD" else (0, rows)
            writer.writerow([qid, text, "DB", "S", kind, "SUCCESS", start, unloaded, inserted])
    meta = {}
    for key, (body, modified) in MIRROR.items():
        path = tmp_path / "mirror" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        meta[key] = {"last_modified": modified}
    (tmp_path / "mirror" / ".s3meta.json").write_text(json.dumps(meta))
    config = tmp_path / "lineage.toml"
    config.write_text(
        '[[sources]]\nkind = "snowflake"\nnamespace = "snowflake://acme"\n'
        'query_history_file = "query_history.csv"\n'
        f'[s3]\nbuckets = ["lake/out/", "lake/tmp/"]\nlocal_root = "mirror"\n{s3_extra}'
        '[state]\npath = "state.db"\n')
    return config


def entries(result, code: str) -> list[str]:
    return [e.message for e in result.diagnostics.entries() if e.code == code]


def test_reconciliation_findings(tmp_path):
    config = make_account(tmp_path, "freshness_hours = 48\n")
    result = run(config, dry_run=True).result
    rows = entries(result, "s3_row_count_mismatch")
    assert rows == [("s3://lake/out/orders/: writers reported 10 rows, loads reported 8 "
                    "(snowflake://acme/DB.S.ORDERS_COPY)")]
    late = entries(result, "s3_not_loaded")
    assert len(late) == 1 and late[0].startswith("s3://lake/out/late/: data written at 2025-01-12")
    assert "last load: 2025-01-11T02:00:00+00:00" in late[0]
    missing = entries(result, "s3_export_missing")
    assert missing == [("1 object(s) written to s3://lake/out/gone/ are not in S3 and were never "
                       "loaded: out/gone/")]
    stray = entries(result, "s3_unexplained_objects")
    assert len(stray) == 1 and "2 object(s) in s3://lake/tmp/junk_{n}.csv" in stray[0]
    assert len(entries(result, "s3_dataset_stale")) == 2  # orders and late: 2025 is long ago
    assert not entries(result, "s3_schema_drift")


def test_scheduled_runs_keep_the_inventory_and_list_only_what_was_never_listed(tmp_path):
    import sqlite3

    config = make_account(tmp_path)
    first = run(config)
    assert first.result.graph.node("s3://lake/out/orders/").metadata["objects"] == 1
    db = sqlite3.connect(tmp_path / "state.db")
    scans = db.execute("SELECT bucket, prefix, scan FROM s3_scans ORDER BY prefix").fetchall()
    assert [(b, p) for b, p, _ in scans] == [("lake", "out/"), ("lake", "tmp/")]
    (tmp_path / "mirror" / "lake" / "out" / "orders" / "data_0_1_0.csv").write_text("ID,AMOUNT\n")
    second = run(config)  # scan_on_run = "auto": already listed, not listed again
    assert db.execute("SELECT bucket, prefix, scan FROM s3_scans ORDER BY prefix").fetchall() == scans
    assert second.result.graph.node("s3://lake/out/orders/").metadata["objects"] == 1
    assert main(["discover-s3", "--config", str(config)]) == 0  # cron keeps it current
    third = run(config, read_sources=False)
    assert third.result.graph.node("s3://lake/out/orders/").metadata["objects"] == 2


def test_scan_on_run_never_asks_for_discover(tmp_path):
    config = make_account(tmp_path, 'scan_on_run = "never"\n')
    result = run(config).result
    assert len(entries(result, "s3_inventory_missing")) == 2
    assert result.graph.node("s3://lake/out/orders/").metadata["objects"] == 0


def test_read_only_enrichment_lists_nothing(tmp_path):
    import sqlite3

    from s3lineage.discover.enrich import enrich_graph
    from s3lineage.runner import graph_from_state
    from s3lineage.state.store import StateStore

    config = make_account(tmp_path, 'scan_on_run = "never"\n')
    run(config)
    cfg = load_config(config)
    store = StateStore(tmp_path / "state.db")
    try:
        graph = graph_from_state(cfg, store).graph
        enrich_graph(graph, load_config(make_account(tmp_path)), store, scan_buckets=False)
    finally:
        store.close()
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("SELECT count(*) FROM s3_scans").fetchone()[0] == 0
