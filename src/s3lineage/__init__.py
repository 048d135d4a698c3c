"""s3lineage: infer PostgreSQL → S3 → Snowflake lineage from logged SQL.

For orchestrators::

    import s3lineage
    report = s3lineage.run("lineage.toml")          # incremental, updates the state store
    report = s3lineage.run("lineage.toml", dry_run=True)
    print(report.outcome, report.stats["edges"], len(report.new_edges))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from s3lineage.runner import RunReport


def run(config_path: Any, **options: Any) -> RunReport:
    """Run inference once; see :func:`s3lineage.runner.run` for the options."""
    from s3lineage.runner import run as _run

    return _run(config_path, **options)


__all__ = ["__version__", "run"]
