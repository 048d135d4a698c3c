"""CLI commands of the S3 discovery feature: ``discover-s3`` and ``watch``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from s3lineage.errors import ConfigError, S3LineageError
from s3lineage.terminal import progress_printer


def register(subparsers: Any) -> None:
    """Add ``discover-s3`` and ``watch`` to the ``s3lineage`` command line."""
    discover = subparsers.add_parser(
        "discover-s3", help="list the [s3] buckets: objects, formats, schemas, freshness")
    discover.add_argument("--config", required=True, help="lineage.toml with an [s3] section")
    discover.add_argument("--dry-run", action="store_true",
                          help="print the inventory without keeping it in the state store")
    discover.add_argument("--json", action="store_true", help="print one JSON document")
    discover.add_argument("--top", type=int, default=20,
                          help="datasets shown in the text summary (default 20)")
    discover.set_defaults(func=_discover)

    watch = subparsers.add_parser(
        "watch", help="apply S3 event notifications from an SQS queue as they arrive")
    watch.add_argument("--config", required=True, help="lineage.toml with an [s3] section")
    watch.add_argument("--sqs-queue-url", help="the queue (default: [s3] sqs_queue_url)")
    watch.add_argument("--max-polls", type=int, help="stop after this many receive calls")
    watch.add_argument("--once", action="store_true", help="stop when the queue is empty")
    watch.add_argument("--wait-seconds", type=int, default=20, choices=range(21),
                       metavar="0-20", help="long-poll wait per receive (default 20)")
    watch.set_defaults(func=_watch)


def _settings(config: str):
    from s3lineage.config import load_config

    cfg = load_config(config)
    if "s3" not in cfg.sections:
        raise ConfigError(f"{config} has no [s3] section (see docs/s3.md)")
    return cfg, cfg.sections["s3"]


def _discover(args: argparse.Namespace) -> int:
    from s3lineage.discover.inventory import Inventory, state_path
    from s3lineage.discover.scan import scan
    from s3lineage.discover.sources import open_store
    from s3lineage.graph.fold import Folder
    from s3lineage.state.store import StateLock, StateStore

    cfg, settings = _settings(args.config)
    folder = Folder(cfg.graph.fold_rules, cfg.graph.fold_partitions)
    source = open_store(settings)
    progress = progress_printer("listing", "objects") if sys.stderr.isatty() and not args.json else None
    if args.dry_run:
        inventory = Inventory.temporary()
        try:
            report = scan(settings, source, inventory, folder, progress=progress)
            _print(args, settings, report, inventory)
        finally:
            inventory.db.close()
    else:
        path = state_path(cfg)
        with StateLock(path, cfg.state.lock_timeout_seconds if cfg.state else 0.0):
            store = StateStore(path)
            try:
                inventory = Inventory(store.db)
                report = scan(settings, source, inventory, folder, progress=progress)
                _print(args, settings, report, inventory)
            finally:
                store.close()
    return 1 if report.diagnostics else 0


def _print(args: argparse.Namespace, settings, report, inventory) -> None:
    if sys.stderr.isatty() and not args.json:
        sys.stderr.write("\r\033[K")
    datasets = []
    for scope in settings.buckets:
        for template, summary in inventory.under(scope.name, ""):
            if scope.covers(template) or any(template.startswith(p) for p in scope.prefixes):
                datasets.append({"bucket": scope.name, "template": template, **summary})
    rate = report.objects / report.seconds if report.seconds else 0.0
    if args.json:
        print(json.dumps({
            "summary": {"prefixes": report.prefixes, "objects": report.objects,
                        "bytes": report.bytes, "datasets": report.datasets,
                        "schemas_read": report.schemas_read, "seconds": report.seconds,
                        "objects_per_second": round(rate, 1)},
            "datasets": datasets,
            "diagnostics": [{"code": d.code, "severity": d.severity.value, "message": d.message,
                             "where": d.where} for d in report.diagnostics],
        }, indent=2, sort_keys=True))
        return
    lines = [
        "s3lineage discover-s3" + (" — dry run" if args.dry_run else ""),
        f"  listed              {', '.join(report.prefixes) or 'nothing'}",
        f"  objects             {report.objects:,} ({_size(report.bytes)}, {rate:,.0f} objects/s)",
        f"  datasets            {len(datasets):,} (schemas read from {report.schemas_read} objects)",
    ]
    for item in sorted(datasets, key=lambda d: (-d["objects"], d["template"]))[:args.top]:
        fields = item.get("fields")
        shown = ", ".join(fields[:8]) + (" …" if fields and len(fields) > 8 else "") \
            if fields else "(schema not read)"
        lines.append(f"    s3://{item['bucket']}/{item['template']}")
        plural = "s" if item["objects"] != 1 else ""
        lines.append(f"      {item['objects']:,} object{plural}, {_size(item['size'])}, newest "
                     f"{item['last_modified']}, {item['format'] or 'unknown format'}"
                     f"{'/' + item['compression'] if item.get('compression') else ''}: {shown}")
        if len(item.get("schemas", [])) > 1:
            lines.append(f"      {len(item['schemas'])} different schemas among its objects")
    if len(datasets) > args.top:
        lines.append(f"    … {len(datasets) - args.top} more (--json lists all)")
    for diagnostic in report.diagnostics:
        lines.append(f"  {diagnostic.severity.value:<7} {diagnostic.code}: {diagnostic.message}")
    lines.append(f"  took                {report.seconds:.2f} s")
    print("\n".join(lines))


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _watch(args: argparse.Namespace) -> int:
    from s3lineage.discover.watch import watch

    cfg, settings = _settings(args.config)
    queue = args.sqs_queue_url or settings.sqs_queue_url
    if not queue:
        raise S3LineageError("watch needs --sqs-queue-url (or [s3] sqs_queue_url)")
    if args.max_polls is not None and args.max_polls < 1:
        raise S3LineageError("--max-polls must be at least 1")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report = watch(cfg, queue, max_polls=args.max_polls, once=args.once,
                   wait_seconds=args.wait_seconds, log=log)
    print(f"s3lineage watch: {report.polls} poll(s), {report.messages} message(s), "
          f"{report.events} event(s): {report.applied} applied, {report.ignored} ignored"
          + (f", {report.failed_batches} batch(es) left for redelivery" if report.failed_batches
             else ""))
    return 1 if report.failed_batches else 0
