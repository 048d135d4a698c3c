"""``s3lineage publish``: publish the lineage graph to Atlan — the graph scheduled runs keep
in the state store when there is one, else one inferred from the configured inputs.

``--dry-run`` reads Atlan (connections, endpoints, what s3lineage owns) and prints the plan —
what would be created, updated, restored, archived or skipped, with reasons — writing
nothing. Exit codes: 0 ok, 1 some assets failed, 2 configuration/credentials/connection
problems (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "publish", help="publish the inferred lineage to Atlan ([atlan] in lineage.toml)")
    parser.add_argument("--config", required=True, help="lineage.toml")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (create/update/archive/restore/skip) without writing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when all went well")
    parser.set_defaults(func=_publish)


def _publish(args: argparse.Namespace) -> int:
    from s3lineage.config import load_config
    from s3lineage.pipeline import infer
    from s3lineage.publish import PublishError, publish
    from s3lineage.publish.statements import StatementRecorder
    from s3lineage.runner import graph_from_state

    config = load_config(args.config)
    if "atlan" not in config.sections:
        raise PublishError(f"{args.config}: add an [atlan] section (s3_connection, lineage_connection) "
                           "to publish; see docs/atlan.md")
    store = _open_state(config)
    try:
        if store is not None:  # what scheduled runs learned (logs since rotated included)
            graph, statements = graph_from_state(config, store).graph, None
        else:
            recorder = StatementRecorder(idiom_dirs=config.idiom_dirs)
            graph, statements = infer(config, resolver=recorder).graph, recorder.statements
        report = publish(config, graph, store, dry_run=args.dry_run, statements=statements)
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    elif not (args.quiet and report.ok):
        print(report.render())
    return 0 if report.ok else 1


def _open_state(config: Any) -> Any:
    """The state store of scheduled runs, if one exists: edge statuses and review decisions."""
    from s3lineage.state.store import StateStore

    path = config.state.path if config.state else Path(config.path).resolve().parent / ".s3lineage" / "state.db"
    if not Path(path).is_file():
        return None
    return StateStore(Path(path))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run it as: s3lineage publish --config lineage.toml")
