"""Scheduled runs on the state store: incremental, crash-safe, one at a time."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import pytest

from s3lineage.cli import main
from s3lineage.runner import run
from s3lineage.state.store import StateBusy, StateLock, StateStore

from .audit_helpers import append_query  # a fresh QUERY_HISTORY export row
from .conftest import FIXTURES, ROOT


@pytest.fixture
def demo(tmp_path):
    shutil.copytree(FIXTURES / "demo", tmp_path / "demo")
    config = tmp_path / "demo" / "lineage.toml"
    config.write_text(config.read_text() + '\n[state]\npath = "state/state.db"\nretention_days = 30\n')
    return config


def _edges(report):
    return {(e.source, e.target): e.evidence.run_count for e in report.result.graph.edges()}


def test_first_run_then_nothing_new(demo):
    first = run(demo)
    assert first.outcome == "ok" and len(first.new_edges) == 20
    assert first.stats["resolved"] > 0
    started = time.perf_counter()
    second = run(demo)
    elapsed = time.perf_counter() - started
    assert second.stats["files_read"] == 0 and second.stats["files_unchanged"] == 7
    assert second.stats["statements"] == 0 and second.stats["resolved"] == 0
    assert not (second.new_edges or second.changed_edges or second.stale_edges)
    assert _edges(second) == _edges(first)  # the graph is rebuilt from the state alone
    assert elapsed < 1.0, f"a run with nothing new took {elapsed:.2f}s"


def test_only_new_statements_are_read(demo):
    first = run(demo)
    # a re-export that overlaps the previous one: the old rows come again, plus one new
    append_query(demo, "01bnew00-0000-0000-0000-000000000001",
                 "INSERT INTO ANALYTICS.MARTS.USER_EMAILS (EMAIL) SELECT EMAIL FROM USERS")
    second = run(demo)
    assert second.stats["statements"] == 1
    assert second.new_edges == ["snowflake://fintech-prod/RAW.LANDING.USERS -> "
                                "snowflake://fintech-prod/ANALYTICS.MARTS.USER_EMAILS"]
    before, after = _edges(first), _edges(second)
    assert all(after[k] == v for k, v in before.items())  # nothing counted twice


def test_crash_between_reading_and_committing_loses_and_doubles_nothing(demo):
    def crash():
        raise RuntimeError("injected crash")

    with pytest.raises(RuntimeError):
        run(demo, before_commit=crash)
    store = StateStore(demo.parent / "state" / "state.db")
    assert store.edges() == {} and [r["outcome"] for r in store.runs()] == ["running"]
    store.close()
    recovered = run(demo)
    clean = run(demo.parent.parent / "demo" / "lineage.toml", dry_run=True)
    assert _edges(recovered) == _edges(clean)
    store = StateStore(demo.parent / "state" / "state.db")
    assert [r["outcome"] for r in store.runs()] == ["ok", "interrupted"]
    store.close()


def test_a_killed_process_leaves_the_state_intact(demo):
    run(demo)
    append_query(demo, "01bkill0-0000-0000-0000-000000000001", "INSERT INTO A.B.C (X) SELECT ID FROM USERS")
    code = (
        "import os, signal, sys\n"
        "from s3lineage.runner import run\n"
        f"run({str(demo)!r}, before_commit=lambda: os.kill(os.getpid(), signal.SIGKILL))\n"
    )
    killed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120)
    assert killed.returncode == -9
    after_kill = run(demo)  # the lock died with the process; the new statement is read again
    assert after_kill.stats["statements"] == 1 and len(after_kill.new_edges) == 1


def test_overlapping_runs_do_not_corrupt(demo, capsys):
    run(demo)
    with StateLock(demo.parent / "state" / "state.db"):
        with pytest.raises(StateBusy, match="another s3lineage run holds the state lock"):
            run(demo)
        assert main(["infer", "--config", str(demo)]) == 2
        assert "holds the state lock" in capsys.readouterr().err
    assert run(demo).outcome == "ok"


def test_edges_not_observed_past_retention_go_stale_and_come_back(demo):
    text = demo.read_text().replace("retention_days = 30", "retention_days = 0.0000001")
    demo.write_text(text)
    first = run(demo)
    time.sleep(0.05)
    second = run(demo)
    assert sorted(second.stale_edges) == sorted(first.new_edges)
    store = StateStore(demo.parent / "state" / "state.db")
    assert {r["status"] for r in store.edges().values()} == {"stale"}
    store.close()
    # the users load runs again: its edge is observed and restored
    append_query(demo, "01bagain-0000-0000-0000-000000000001",
                 "COPY INTO USERS FROM @LAKE_STAGE/users/ PATTERN='.*users[.]csv' "
                 "FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1)", query_type="COPY")
    third = run(demo)
    assert third.restored_edges == ["s3://fintech-lake/exports/users/dt={dt}/users.csv -> "
                                    "snowflake://fintech-prod/RAW.LANDING.USERS"]


def test_full_refresh_rereads_everything_without_doubling(demo):
    first = run(demo)
    again = run(demo, full_refresh=True)
    assert again.stats["files_read"] == 7 and again.stats["statements"] == first.stats["statements"]
    assert _edges(again) == _edges(first)


def test_log_files_resume_where_the_last_run_stopped(demo):
    run(demo)
    log = demo.parent / "postgres" / "postgresql.csv"
    records = re.split(r"(?m)^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", log.read_text())
    export = next(r for r in records if "query_export_to_s3" in r and "dt=2025-01-16" in r)
    # the server writes the same export again the next day
    with log.open("a") as f:
        f.write(export.replace("dt=2025-01-16", "dt=2025-01-17").replace("2025-01-16 01:", "2025-01-17 01:"))
    second = run(demo)
    assert second.stats["statements"] == 1 and second.stats["files_read"] == 1
    assert second.new_edges == []  # the new object folds into no new dataset …
    assert second.changed_edges  # … but the export edge has new evidence
    node = second.result.graph.node("s3://fintech-lake/exports/users/dt={dt}/users.csv")
    assert node.members["exports/users/dt=2025-01-17/users.csv"].written


def test_python_api_dry_run(demo):
    import s3lineage

    report = s3lineage.run(demo, dry_run=True)
    assert report.outcome == "dry_run" and report.run_id is None and report.stats["edges"] == 20


def test_restitch_from_state_alone(demo):
    first = run(demo)
    (demo.parent / "snowflake" / "query_history.csv").write_text("garbage\n")  # never read
    again = run(demo, read_sources=False)
    assert again.stats["files_read"] == 0 and again.stats["files_unchanged"] == 0
    assert _edges(again) == _edges(first) and "missing_column" not in again.result.diagnostics.codes()


def test_pg_stat_statements_snapshots_become_deltas(tmp_path):
    shutil.copytree(FIXTURES / "demo" / "postgres", tmp_path / "pg")
    config = tmp_path / "lineage.toml"
    config.write_text('[[sources]]\nkind = "postgres"\nnamespace = "postgres://pg:5432"\ndatabase = "appdb"\n'
                      'statements_file = "pg/pg_stat_statements.csv"\n[state]\npath = "state.db"\n')
    first = run(config)
    (edge,) = [e for e in first.result.graph.edges() if e.kind == "export"]
    assert edge.evidence.run_count == 2 and edge.evidence.rows == 1000  # part-000 and part-001
    stats = tmp_path / "pg" / "pg_stat_statements.csv"
    # a later snapshot: part-000's COPY ran twice more (calls 1 → 3, rows 500 → 1500)
    stats.write_text(stats.read_text().replace(
        "part-000.csv' WITH (FORMAT csv, HEADER)\",1,500", "part-000.csv' WITH (FORMAT csv, HEADER)\",3,1500"))
    second = run(config)
    (edge,) = [e for e in second.result.graph.edges() if e.kind == "export"]
    assert second.stats["statements"] == 1
    assert edge.evidence.run_count == 4 and edge.evidence.rows == 2000
