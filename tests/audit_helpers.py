"""Shared set-up of the audit tests: a demo copy with a state store, runs with the audit
hooks in place, and a QUERY_HISTORY appender (as a fresh export would add rows)."""

from __future__ import annotations

import csv
import inspect
import shutil
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

from s3lineage import runner
from s3lineage.audit.history import record_run
from s3lineage.audit.statements import StatementSampler

from .conftest import FIXTURES

PG = "postgres://pg.demo.internal:5432/appdb.public."
SF = "snowflake://fintech-prod/"
LAKE = "s3://fintech-lake/"
USERS_EXPORT = f"{PG}users -> {LAKE}exports/users/dt={{dt}}/users.csv"
USERS_LOAD = f"{LAKE}exports/users/dt={{dt}}/users.csv -> {SF}RAW.LANDING.USERS"
DIM_ACCOUNTS = f"{SF}RAW.LANDING.ACCOUNTS -> {SF}ANALYTICS.MARTS.DIM_ACCOUNTS"


def demo_copy(tmp_path: Path, retention_days: float = 30) -> Path:
    shutil.copytree(FIXTURES / "demo", tmp_path / "demo")
    config = tmp_path / "demo" / "lineage.toml"
    config.write_text(config.read_text()
                      + f'\n[state]\npath = "state/state.db"\nretention_days = {retention_days}\n')
    return config


def _runner_has_hooks() -> bool:
    return "audit" in inspect.getsource(runner._scheduled_run)


def run_audited(config: Path, **kwargs):
    """``runner.run`` with the audit hooks the runner's save step calls (patched in
    until runner.py wires :mod:`s3lineage.audit.hooks` itself)."""
    if _runner_has_hooks():
        return runner.run(config, **kwargs)
    original_builder, original_save = runner.GraphBuilder, runner._save
    samplers: list[StatementSampler] = []

    def builder(*args, **kw):
        made = original_builder(*args, **kw)
        samplers.append(StatementSampler(set()).attach(made))
        return made

    def save(store, cfg, result, graph_builder, catalogs, policy, live_cursors, run_id, changes):
        original_save(store, cfg, result, graph_builder, catalogs, policy, live_cursors, run_id, changes)
        for sampler in samplers:
            sampler.save(store, run_id)
        record_run(store, run_id)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(runner, "GraphBuilder", builder))
        stack.enter_context(mock.patch.object(runner, "_save", save))
        return runner.run(config, **kwargs)


def append_query(config: Path, query_id: str, text: str, query_type: str = "INSERT",
                 time: str = "2025-01-20 02:00:00.000 +0000") -> None:
    """Add a QUERY_HISTORY row the way a fresh export would (header-driven)."""
    history = config.parent / "snowflake" / "query_history.csv"
    with history.open(newline="") as f:
        header = next(csv.reader(f))
    row = dict.fromkeys(header, "") | {
        "QUERY_ID": query_id, "QUERY_TEXT": text, "DATABASE_NAME": "RAW", "SCHEMA_NAME": "LANDING",
        "QUERY_TYPE": query_type, "EXECUTION_STATUS": "SUCCESS", "START_TIME": time, "END_TIME": time,
        "USER_NAME": "LOADER_SVC"}
    with history.open("a", newline="") as f:
        csv.DictWriter(f, header).writerow(row)
