#!/usr/bin/env python3
"""Impact-analysis latency on a synthetic PostgreSQL → S3 → Snowflake graph.

The graph has ``--nodes`` datasets (default 100,000) shaped like the demo, at scale:
each pipeline is a Postgres table exported to an S3 key template, loaded into a
Snowflake RAW table; every three RAW tables feed a MARTS table (a join), every ten
marts are unloaded back to S3; five shared dimension tables (hubs) each feed ~0.4% of the
marts, and one calendar table feeds every mart (the worst case: it reaches ~13% of the graph).
Every dataset has 6 columns with column-level mappings, like real exports and loads.

Measured (one :class:`~s3lineage.audit.impact.ImpactIndex`, built once):

- build: seconds to precompute the adjacency (datasets and columns);
- per query type, over ``--queries`` random seeds: p50 / p95 / max milliseconds of
  ``ImpactIndex.query`` (the reachable datasets and columns with their depths and the
  parent pointers every path is read from), and of the same query with every path
  materialized (what ``s3lineage impact`` prints; proportional to the output):
  a Postgres column downstream, a mart column upstream, a Postgres table downstream
  (table and column level), a mart table upstream, a hub table downstream, and the worst
  case: the calendar table downstream (every mart and unload, ~13,000 datasets).

Usage::

    python benchmarks/bench_impact.py                 # 100,000 datasets
    python benchmarks/bench_impact.py --nodes 20000 --queries 50 --json
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from s3lineage.audit.impact import EdgeRecord, ImpactIndex

PG, SF, S3 = "postgres://pg:5432/app.public.", "snowflake://acct/", "s3://lake/"
COLUMNS = ("id", "key", "name", "amount", "status", "created_at")
UPPER = tuple(c.upper() for c in COLUMNS)


def synthetic_graph(nodes: int, seed: int = 7) -> tuple[list[EdgeRecord], dict[str, list[str]]]:
    """Edge records and seed pools for a graph of about ``nodes`` datasets."""
    rng = random.Random(seed)
    units = max(3, int(nodes / (3 + 1 / 3 + 1 / 30)))
    edges: list[EdgeRecord] = []
    pools: dict[str, list[str]] = {"pg": [], "mart": [], "hub": []}
    raws = []
    hubs = [f"{SF}RAW.SHARED.DIM_{i}" for i in range(5)]
    pools["hub"] = hubs
    calendar = f"{SF}RAW.SHARED.CALENDAR"
    pools["calendar"] = [calendar]
    for i in range(units):
        pg, s3, raw = f"{PG}t{i}", f"{S3}exports/t{i}/dt={{dt}}/t{i}.csv", f"{SF}RAW.LANDING.T{i}"
        pools["pg"].append(pg)
        raws.append(raw)
        edges.append((f"{pg} -> {s3}", pg, s3, "export",
                      [(c, [(pg, c)], "identity") for c in COLUMNS]))
        edges.append((f"{s3} -> {raw}", s3, raw, "load",
                      [(u, [(s3, c)], "positional") for c, u in zip(COLUMNS, UPPER)]))
    marts = []
    for m in range(len(raws) // 3):
        mart = f"{SF}ANALYTICS.MARTS.M{m}"
        marts.append(mart)
        inputs = raws[3 * m: 3 * m + 3]
        if rng.random() < 0.02:
            inputs.append(rng.choice(hubs))
        inputs.append(calendar)
        for n, raw in enumerate(inputs):
            mappings = [(f"{UPPER[k]}_{n}", [(raw, UPPER[k])], "identity") for k in range(2)]
            edges.append((f"{raw} -> {mart}", raw, mart, "transform", mappings))
    for u in range(len(marts) // 10):
        out = f"{S3}reports/r{u}/"
        for mart in marts[10 * u: 10 * u + 10]:
            edges.append((f"{mart} -> {out}", mart, out, "unload",
                          [(f"c{k}", [(mart, f"{UPPER[k]}_0")], "identity") for k in range(2)]))
    pools["mart"] = marts
    return edges, pools


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered), 3),
            "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 3),
            "max": round(ordered[-1], 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000, help="datasets in the graph")
    parser.add_argument("--queries", type=int, default=200, help="random seeds per query type")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    edges, pools = synthetic_graph(args.nodes)
    gc.collect()
    started = time.perf_counter()
    index = ImpactIndex.build(edges)
    build = time.perf_counter() - started
    gc.freeze()  # the index lives as long as the process: keep it out of GC scans
    rng = random.Random(11)
    kinds = {
        "pg_column_downstream": lambda: (rng.choice(pools["pg"]), rng.choice(COLUMNS), "downstream"),
        "mart_column_upstream": lambda: (rng.choice(pools["mart"]), "ID_0", "upstream"),
        "pg_table_downstream": lambda: (rng.choice(pools["pg"]), None, "downstream"),
        "mart_table_upstream": lambda: (rng.choice(pools["mart"]), None, "upstream"),
        "hub_table_downstream": lambda: (rng.choice(pools["hub"]), None, "downstream"),
        "calendar_downstream": lambda: (pools["calendar"][0], None, "downstream"),
    }
    results: dict[str, Any] = {}
    for name, pick in kinds.items():
        samples, with_paths, reached = [], [], []
        for _ in range(args.queries):
            dataset, column, direction = pick()
            t0 = time.perf_counter()
            impact = index.query(dataset, column, direction=direction)
            t1 = time.perf_counter()
            paths = len(impact.datasets) + len(impact.columns)  # builds every path
            t2 = time.perf_counter()
            samples.append((t1 - t0) * 1000)
            with_paths.append((t2 - t0) * 1000)
            reached.append(paths)
            del impact  # freeing a large result is not the next query's time
        results[name] = _stats(samples) | {
            "with_paths": _stats(with_paths), "reached_avg": round(statistics.mean(reached), 1)}
    gc.unfreeze()
    worst = max(r["max"] for r in results.values())
    worst_paths = max(r["with_paths"]["max"] for r in results.values())
    typical_p95 = max(r["p95"] for k, r in results.items() if k != "calendar_downstream")
    report = {
        "datasets": len(index.datasets), "columns": len(index.columns), "edges": len(index.edge_ids),
        "build_seconds": round(build, 3), "queries": results,
        "typical_p95_ms": typical_p95, "worst_ms": worst, "worst_with_paths_ms": worst_paths,
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(report))
        return report
    print(f"impact on a synthetic graph: {report['datasets']:,} datasets, {report['columns']:,} "
          f"columns, {report['edges']:,} edges (index built in {build:.2f} s)")
    print(f"{'query':<22} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   {'+paths p50':>10} "
          f"{'p95':>8} {'max':>8} {'reached':>9}")
    for name, r in results.items():
        w = r["with_paths"]
        print(f"{name:<22} {r['p50']:>8.3f} {r['p95']:>8.3f} {r['max']:>8.3f}   {w['p50']:>10.3f} "
              f"{w['p95']:>8.3f} {w['max']:>8.3f} {r['reached_avg']:>9.1f}")
    print(f"impact query at {report['datasets']:,} nodes: p95 {typical_p95:.2f} ms "
          f"(worst case, the calendar hub reaching {results['calendar_downstream']['reached_avg']:,.0f} "
          f"nodes: {worst:.2f} ms, {worst_paths:.2f} ms with every path; target <= 50 ms)")
    return report


if __name__ == "__main__":
    main()
