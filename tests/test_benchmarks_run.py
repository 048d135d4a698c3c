"""benchmarks/bench_resolver.py runs end to end (its timings are never asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_resolver.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_resolver", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_bench_resolver_runs_on_a_small_subset(capsys):
    bench = load_bench()
    result = bench.main(["--repeat", "1", "--limit", "8", "--json"])
    assert json.loads(capsys.readouterr().out) == result
    assert result["statements"] == 8
    assert result["cold_statements_per_s"] > 0
    assert result["warm_statements_per_s"] > 0
    assert result["cold_latency_ms"]["p50"] > 0 and result["cold_latency_ms"]["p95"] > 0
    assert sum(r["statements"] for r in result["by_recognizer"]) == 8


def test_bench_resolver_reads_fixture_headers():
    bench = load_bench()
    items = bench.parse_fixture(
        "-- file header\n\n"
        "-- case: one\n-- default_database: appdb\n-- default_schema: public\n"
        "-- inputs: appdb.public.users\nSELECT id\nFROM users;\n\n"
        "-- case: two\n-- search_path: staging, public\n-- schema: appdb.staging.t = a, b\n"
        "SET search_path TO staging;\nSELECT a FROM t;\n",
        "postgres", "demo",
    )
    assert [i.name for i in items] == ["fixture:postgres/demo:one", "fixture:postgres/demo:two"]
    assert items[0].sql == "SELECT id\nFROM users;"
    assert (items[0].default_database, items[0].default_schema) == ("appdb", "public")
    assert items[1].search_path == ["staging", "public"]
    assert items[1].schema == {"appdb.staging.t": ["a", "b"]}
    assert items[1].sql == "SET search_path TO staging;\nSELECT a FROM t;"
