#!/usr/bin/env python3
"""Resolver throughput and latency on the bundled SQL corpus.

Corpus: every ``[[example]]`` of the idiom catalogue (``parsers/**/*.toml``) plus every
case of ``fixtures/resolver/<dialect>/*.sql`` when that directory exists, each with the
session context its file gives (default database/schema, search_path, schema).

Measured:

- cold throughput: statements/s of a pass with a fresh :class:`Resolver` (empty cache);
- warm throughput: statements/s of a pass over the same corpus on the same Resolver,
  after a cold pass filled its cache;
- p50/p95/max per-statement latency of the cold passes;
- the cold time per recognizer (which idioms cost the most).

Usage::

    python benchmarks/bench_resolver.py               # readable table
    python benchmarks/bench_resolver.py --repeat 10   # more passes, steadier figures
    python benchmarks/bench_resolver.py --json        # one JSON object on stdout

Figures are the median over ``--repeat`` passes. An untimed pass runs first (sqlglot
builds its dialect tables lazily); ``--no-warmup`` skips it.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot

from s3lineage.resolve.catalogue import Recognizer, load_catalogue
from s3lineage.resolve.context import ResolveContext
from s3lineage.resolve.resolver import Resolver
from s3lineage.resolve.schema import Catalog

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "resolver"
DIALECTS = ("postgres", "snowflake")
_CASE = re.compile(r"^-- case:\s*(.*?)\s*$")
_HEADER = re.compile(r"^--\s+([a-z_]+)\s*:\s*(.*?)\s*$")


@dataclass
class Item:
    """One corpus statement (or script) with the context it is resolved in."""

    name: str
    dialect: str
    sql: str
    default_database: str | None = None
    default_schema: str | None = None
    search_path: list[str] = field(default_factory=list)
    schema: dict[str, list[str]] = field(default_factory=dict)
    ctx: ResolveContext | None = None

    def context(self) -> ResolveContext:
        # Built once and reused: the cache key includes the context, so warm passes
        # must present the same one.
        if self.ctx is None:
            self.ctx = ResolveContext.create(
                self.dialect,
                default_database=self.default_database,
                default_schema=self.default_schema,
                search_path=tuple(self.search_path),
                catalog=Catalog.from_mapping(self.schema) if self.schema else None,
            )
        return self.ctx


# --- corpus ----------------------------------------------------------------------------


def catalogue_items(recognizers: list[Recognizer]) -> list[Item]:
    items = []
    for r in recognizers:
        for example in r.examples:
            dialect = (example.dialect or min(r.dialects, key=lambda d: d.value)).value
            items.append(Item(
                name=f"catalogue:{r.id}:{example.name}",
                dialect=dialect,
                sql=example.sql,
                default_database=example.default_database,
                default_schema=example.default_schema,
                search_path=list(example.search_path),
                schema=dict(example.schema),
            ))
    return items


def parse_fixture(text: str, dialect: str, stem: str) -> list[Item]:
    """Cases of one fixture file: ``-- case:`` starts a case, ``-- `` lines are headers,
    the remaining lines are its SQL."""
    items: list[Item] = []
    current: Item | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            current.sql = "\n".join(lines).strip()
            if current.sql:
                items.append(current)

    for line in text.splitlines():
        case = _CASE.match(line)
        if case:
            close()
            current, lines = Item(name=f"fixture:{dialect}/{stem}:{case.group(1)}",
                                  dialect=dialect, sql=""), []
            continue
        if current is None:
            continue  # file header comment
        if line.startswith("-- ") or line.strip() == "--":
            header = _HEADER.match(line)
            if header:
                key, value = header.groups()
                if key == "default_database":
                    current.default_database = value
                elif key == "default_schema":
                    current.default_schema = value
                elif key == "search_path":
                    current.search_path = [p.strip() for p in value.split(",") if p.strip()]
                elif key == "schema" and "=" in value:
                    table, _, cols = value.partition("=")
                    columns = [c.strip() for c in cols.split(",") if c.strip()]
                    current.schema[table.strip()] = columns
            continue
        lines.append(line)
    close()
    return items


def fixture_items(root: Path = FIXTURES) -> list[Item]:
    items: list[Item] = []
    if not root.is_dir():
        return items
    for path in sorted(root.rglob("*.sql")):
        dialect = path.parent.name
        if dialect not in DIALECTS:
            continue
        items.extend(parse_fixture(path.read_text(encoding="utf-8"), dialect, path.stem))
    return items


def load_corpus(recognizers: list[Recognizer], *, fixtures: bool = True,
                limit: int | None = None) -> list[Item]:
    items = catalogue_items(recognizers) + (fixture_items() if fixtures else [])
    if limit is not None:
        items = items[:limit]
    for item in items:
        item.context()
    return items


# --- measurement -----------------------------------------------------------------------


def label(resolution) -> str:
    if resolution.recognizer:
        return resolution.recognizer
    codes = [d.code for d in resolution.diagnostics]
    return f"({codes[0]})" if codes else "(no lineage)"


def timed_pass(resolver: Resolver, items: list[Item]) -> tuple[float, list[int], list[str]]:
    """(wall seconds, per-statement nanoseconds, per-statement label)."""
    gc.collect()
    times: list[int] = []
    labels: list[str] = []
    clock = time.perf_counter_ns
    start = clock()
    for item in items:
        t0 = clock()
        resolution = resolver.resolve_text(item.sql, item.ctx)
        times.append(clock() - t0)
        labels.append(label(resolution))
    return (clock() - start) / 1e9, times, labels


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run(args: argparse.Namespace) -> dict[str, Any]:
    recognizers = load_catalogue()
    items = load_corpus(recognizers, fixtures=not args.no_fixtures, limit=args.limit)
    if not items:
        raise SystemExit("empty corpus")
    n = len(items)
    if not args.no_warmup:
        timed_pass(Resolver(recognizers), items)

    cold_walls, warm_walls, cold_samples = [], [], []
    per_recognizer: dict[str, list[int]] = {}
    cold_hits = warm_hit_rates = None
    for _ in range(args.repeat):
        resolver = Resolver(recognizers)
        wall, times, labels = timed_pass(resolver, items)
        cold_walls.append(wall)
        cold_samples.extend(times)
        cold_hits = resolver.cache_hits
        for name, ns in zip(labels, times):
            per_recognizer.setdefault(name, []).append(ns)
        hits, misses = resolver.cache_hits, resolver.cache_misses
        wall, _, _ = timed_pass(resolver, items)
        warm_walls.append(wall)
        warm_hits, warm_misses = resolver.cache_hits - hits, resolver.cache_misses - misses
        warm_hit_rates = warm_hits / max(1, warm_hits + warm_misses)

    cold_wall = statistics.median(cold_walls)
    warm_wall = statistics.median(warm_walls)
    cold_ms = [ns / 1e6 for ns in cold_samples]
    total_ns = sum(cold_samples)
    breakdown = []
    for name, samples in sorted(per_recognizer.items(), key=lambda kv: -sum(kv[1])):
        breakdown.append({
            "recognizer": name,
            "statements": len(samples) // args.repeat,
            "total_ms": round(sum(samples) / 1e6 / args.repeat, 3),
            "mean_ms": round(statistics.fmean(samples) / 1e6, 3),
            "max_ms": round(max(samples) / 1e6, 3),
            "share": round(sum(samples) / total_ns, 4) if total_ns else 0.0,
        })
    return {
        "benchmark": "resolver",
        "statements": n,
        "catalogue_statements": sum(1 for i in items if i.name.startswith("catalogue:")),
        "fixture_statements": sum(1 for i in items if i.name.startswith("fixture:")),
        "repeat": args.repeat,
        "cold_statements_per_s": round(n / cold_wall, 1),
        "warm_statements_per_s": round(n / warm_wall, 1),
        "warm_speedup": round(cold_wall / warm_wall, 1) if warm_wall else None,
        "cold_pass_s": round(cold_wall, 4),
        "warm_pass_s": round(warm_wall, 4),
        "cold_latency_ms": {
            "p50": round(percentile(cold_ms, 0.50), 3),
            "p95": round(percentile(cold_ms, 0.95), 3),
            "max": round(max(cold_ms), 3),
            "mean": round(statistics.fmean(cold_ms), 3),
        },
        "cold_cache_hits": cold_hits,
        "warm_cache_hit_rate": round(warm_hit_rates or 0.0, 4),
        "by_recognizer": breakdown,
        "environment": {
            "python": platform.python_version(),
            "sqlglot": sqlglot.__version__,
            "platform": platform.platform(terse=True),
        },
    }


# --- output ----------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    lat = result["cold_latency_ms"]
    env = result["environment"]
    lines = [
        (f"Resolver benchmark — {result['statements']} statements "
         f"({result['catalogue_statements']} catalogue examples, "
         f"{result['fixture_statements']} fixture cases), "
         f"median of {result['repeat']} pass(es)"),
        f"python {env['python']}, sqlglot {env['sqlglot']}",
        "",
        (f"  {'cold (fresh Resolver)':<28}{result['cold_statements_per_s']:>12,.1f} statements/s"
         f"   ({result['cold_pass_s'] * 1000:,.1f} ms/pass)"),
        (f"  {'warm (cache full)':<28}{result['warm_statements_per_s']:>12,.1f} statements/s"
         f"   ({result['warm_pass_s'] * 1000:,.1f} ms/pass, x{result['warm_speedup']},"
         f" hit rate {result['warm_cache_hit_rate']:.0%})"),
        (f"  {'cold latency per statement':<28}p50 {lat['p50']:.2f} ms   p95 {lat['p95']:.2f} ms"
         f"   max {lat['max']:.2f} ms   mean {lat['mean']:.2f} ms"),
        "",
        "Cold time by recognizer (per pass):",
    ]
    rows = result["by_recognizer"]
    width = max([len("recognizer")] + [len(r["recognizer"]) for r in rows])
    lines.append(f"  {'recognizer':<{width}}  {'stmts':>5}  {'total ms':>9}  {'mean ms':>8}"
                 f"  {'max ms':>8}  {'share':>6}")
    lines.append(f"  {'-' * width}  {'-' * 5}  {'-' * 9}  {'-' * 8}  {'-' * 8}  {'-' * 6}")
    for r in rows:
        lines.append(
            f"  {r['recognizer']:<{width}}  {r['statements']:>5}  {r['total_ms']:>9.2f}"
            f"  {r['mean_ms']:>8.3f}  {r['max_ms']:>8.3f}  {r['share']:>6.1%}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Resolver throughput (cold/warm cache) and latency on the bundled corpus.")
    parser.add_argument("--repeat", type=int, default=5, metavar="N",
                        help="timed passes; figures are medians (default 5)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="use only the first N corpus statements")
    parser.add_argument("--no-fixtures", action="store_true",
                        help="catalogue examples only (skip fixtures/resolver)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the untimed first pass")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the report, and return the figures."""
    args = parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        print(render(result))
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
