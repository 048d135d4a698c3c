"""Command line: a thin shell over the library.

Exit codes: 0 ok; 1 diagnostics at or above ``--fail-on``; 2 usage, configuration or
input error (one clear message, no traceback unless ``--debug``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

from s3lineage import __version__
from s3lineage.errors import S3LineageError
from s3lineage.terminal import progress_printer


def _explain_sql(args: argparse.Namespace) -> int:
    from s3lineage.resolve.api import explain
    from s3lineage.resolve.resolver import Resolver

    resolver = Resolver(idiom_dirs=tuple(Path(d) for d in args.idiom_dir))
    if args.batch:
        return _explain_batch(args, resolver)
    if args.sql is None:
        raise S3LineageError("explain-sql needs SQL text (or '-' for stdin, or --batch FILE)")
    sql = sys.stdin.read() if args.sql == "-" else args.sql
    schema = _load_schema_file(args.schema_file) if args.schema_file else None
    result = explain(
        sql,
        args.dialect,
        default_database=args.default_database,
        default_schema=args.default_schema,
        search_path=args.search_path.split(",") if args.search_path else None,
        schema=schema,
        resolver=resolver,
    )
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(render_explain(result))
    return 0


def _explain_batch(args: argparse.Namespace, resolver) -> int:
    from s3lineage.resolve.api import explain

    source = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8", errors="replace")
    with source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                request = json.loads(line)
                if not isinstance(request, dict) or "sql" not in request:
                    raise ValueError("each line must be an object with 'sql'")
                result = explain(
                    request["sql"],
                    request.get("dialect") or args.dialect,
                    default_database=request.get("default_database"),
                    default_schema=request.get("default_schema"),
                    search_path=request.get("search_path"),
                    schema=request.get("schema"),
                    resolver=resolver,
                )
            except (ValueError, TypeError) as err:
                result = {
                    "recognizer": None, "confidence": 0.0, "inputs": [], "outputs": [],
                    "columns": [], "indirect": [],
                    "diagnostics": [{"code": "bad_request", "severity": "error",
                                     "message": f"{args.batch}:{number}: {err}"}],
                }
            sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 0


def _load_schema_file(path: str) -> dict[str, list[str]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise S3LineageError(f"cannot read --schema-file {path}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise S3LineageError(f"--schema-file {path} is not JSON: {err}") from err
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise S3LineageError(f'--schema-file {path} must map "db.schema.table" to a list of columns')
    return data


def render_explain(result: dict[str, Any]) -> str:
    """The human view of an explain result."""

    def name(d: dict) -> str:
        if d["kind"] == "s3":
            return f"{d['namespace']}/{d['name']}"
        return ("@" if d["kind"] == "stage" else "") + d["name"]

    lines = [
        f"recognizer  {result['recognizer'] or '(none)'}",
        f"confidence  {result['confidence']:.2f}",
        "inputs      " + (", ".join(name(d) for d in result["inputs"]) or "(none)"),
        "outputs     " + (", ".join(name(d) for d in result["outputs"]) or "(none)"),
    ]
    if result["columns"]:
        lines.append("columns")
        for col in result["columns"]:
            lines.append(f"  {col['target']} ← {', '.join(col['sources'])}  [{col['transform']}]")
    if result.get("indirect"):
        targets = {tuple(i["sources"]) for i in result["indirect"]}
        for sources in sorted(targets):
            lines.append(f"indirect    {', '.join(sources)} (filter/join/group keys)")
    for key in ("read_filters",):
        for f in result.get(key, []):
            lines.append(f"reads       {f['dataset']} pattern={f['pattern']!r} files={f['files']}")
    if result.get("stage_url"):
        lines.append(f"stage       {result['stage_url']['stage']} = {result['stage_url']['url']}")
    if result.get("pipe"):
        lines.append(f"pipe        {result['pipe']}")
    for diag in result["diagnostics"]:
        lines.append(f"{diag['severity']:<11} {diag['code']}: {diag['message']}")
    return "\n".join(lines)


def _recognizers(args: argparse.Namespace) -> int:
    from s3lineage.resolve.catalogue import load_catalogue, render_markdown

    catalogue = load_catalogue(tuple(Path(d) for d in args.idiom_dir))
    if args.markdown:
        sys.stdout.write(render_markdown(catalogue))
    else:
        for r in catalogue:
            print(f"{r.priority:>4}  {r.id:<45} {r.title}")
    return 0


def _infer(args: argparse.Namespace) -> int:
    from s3lineage.config import load_config
    from s3lineage.export.formats import render
    from s3lineage.export.summary import render_summary
    from s3lineage.model import Severity
    from s3lineage.runner import run

    config = load_config(args.config)
    progress = progress_printer("reading", "statements") if sys.stderr.isatty() and not args.quiet else None
    report = run(config, dry_run=args.dry_run, full_refresh=args.full_refresh,
                 since=args.since, progress=progress)
    result = report.result
    if progress:
        sys.stderr.write("\r\033[K")
    if args.output or args.dry_run:
        text = render(args.format, result.graph, result.diagnostics, result.stats,
                      reviews=_review_marks(config))
        if args.output:
            out = Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    if not args.quiet:
        print(render_summary(result, args.output, report), file=sys.stderr)
        if report.publish is not None:
            print(report.publish.render(), file=sys.stderr)
    if report.publish is not None and not report.publish.ok:
        return 1
    if args.fail_on == "never":
        return 0
    worst = result.diagnostics.worst()
    threshold = Severity(args.fail_on)
    return 1 if worst is not None and worst.rank >= threshold.rank else 0


def _review_marks(config):
    """Analysts' accept/reject decisions, shown on every export (none without a state)."""
    try:
        from s3lineage.audit.reviews import review_marks_for
    except ImportError:
        return None
    return review_marks_for(config)


def _since(value: str):
    from datetime import datetime

    try:
        when = datetime.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--since takes an ISO date or time, not {value!r}") from err
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# Feature commands live with their features; each module has register(subparsers).
_COMMAND_MODULES = (
    "s3lineage.publish.commands",
    "s3lineage.audit.commands",
    "s3lineage.discover.commands",
)


def _register_feature_commands(sub) -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            missing = err.name or ""
            if name.startswith(missing) or not missing.startswith("s3lineage"):
                continue  # the feature, or an optional dependency of it, is not installed
            raise
        module.register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3lineage",
        description="Infer PostgreSQL → S3 → Snowflake lineage from the SQL your systems log.",
    )
    parser.add_argument("--version", action="version", version=f"s3lineage {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    explain = sub.add_parser("explain-sql", help="resolve one statement or script and show its lineage")
    explain.add_argument("sql", nargs="?", help="SQL text, or - to read stdin")
    explain.add_argument("--dialect", choices=["postgres", "snowflake"], default="postgres")
    explain.add_argument("--default-database")
    explain.add_argument("--default-schema")
    explain.add_argument("--search-path", help="Postgres search_path, comma-separated")
    explain.add_argument("--schema-file", help='JSON {"db.schema.table": ["col", …]}')
    explain.add_argument("--json", action="store_true", help="print one JSON object")
    explain.add_argument("--batch", metavar="FILE", help="JSON lines in, one JSON result per line out")
    explain.add_argument("--idiom-dir", action="append", default=[], help="extra parsers/ directory")
    explain.set_defaults(func=_explain_sql)

    infer = sub.add_parser("infer", help="collect, resolve and stitch the lineage graph")
    infer.add_argument("--config", required=True, help="lineage.toml")
    infer.add_argument("--dry-run", action="store_true",
                       help="read everything and write the graph for review; keep no state")
    infer.add_argument("--full-refresh", action="store_true",
                       help="ignore watermarks: re-read every source from scratch")
    infer.add_argument("--since", type=_since, metavar="WHEN",
                       help="only statements at or after this ISO time (e.g. 2025-01-15)")
    from s3lineage.export.formats import FORMATS

    infer.add_argument("--format", choices=FORMATS, default="json")
    infer.add_argument("--output", "-o",
                       help="write the graph here (default: stdout with --dry-run; none otherwise)")
    infer.add_argument("--fail-on", choices=["error", "warning", "info", "never"], default="error",
                       help="exit 1 when a diagnostic at or above this severity exists (default: error)")
    infer.add_argument("--quiet", "-q", action="store_true", help="no progress, no summary")
    infer.set_defaults(func=_infer)

    recognizers = sub.add_parser("recognizers", help="list the idiom catalogue")
    recognizers.add_argument("--markdown", action="store_true", help="print docs/recognizers.md")
    recognizers.add_argument("--idiom-dir", action="append", default=[])
    recognizers.set_defaults(func=_recognizers)

    _register_feature_commands(sub)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except S3LineageError as err:
        if args.debug:
            raise
        print(f"s3lineage: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("s3lineage: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:
        if args.debug:
            raise
        print(f"s3lineage: internal error: {type(err).__name__}: {err} "
              "(re-run with --debug for the traceback, and please report it)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
