"""The one-screen summary printed at the end of ``s3lineage infer``."""

from __future__ import annotations

from collections import Counter

from s3lineage.pipeline import InferenceResult

_ORDER = ("error", "warning", "info")


def render_summary(result: InferenceResult, output: str | None = None, report=None, top: int = 8) -> str:
    stats = result.stats
    edges_by_kind = Counter(e.kind for e in result.graph.edges())
    column_edges = sum(len(e.columns) for e in result.graph.edges())
    severity = result.diagnostics.by_severity()
    scheduled = report is not None and report.run_id is not None
    lines = [
        f"s3lineage infer — run #{report.run_id}" if scheduled else "s3lineage infer — dry run",
        f"  sources read        {stats['sources']} ({stats['files_read']} files)",
        *([f"  files unchanged     {stats['files_unchanged']} (skipped)"] if stats.get("files_unchanged") else []),
        f"  statements          {stats['statements']:,} ({stats['lineage_statements']:,} with lineage, "
        f"{stats['failed_statements']:,} failed and skipped)",
        f"  unique fingerprints {stats['unique_fingerprints']:,} "
        f"(resolved {stats['resolved']:,}, cache hits {stats['cache_hits']:,})",
        f"  datasets            {stats['datasets']:,}",
        "  edges               " + (", ".join(f"{k} {v}" for k, v in sorted(edges_by_kind.items())) or "none")
        + f" ({column_edges} column mappings)",
        "  diagnostics         " + ", ".join(f"{severity.get(s, 0)} {s}" for s in _ORDER),
    ]
    entries = result.diagnostics.entries()
    for entry in entries[:top]:
        place = f" [{entry.where[0]}]" if entry.where else ""
        count = f" ×{entry.count}" if entry.count > 1 else ""
        lines.append(f"    {entry.severity.value:<7} {entry.code}{count}: {_clip(entry.message)}{place}")
    if len(entries) > top:
        lines.append(f"    … {len(entries) - top} more in the output's \"diagnostics\"")
    if scheduled:
        lines.append(
            f"  state               {len(report.new_edges)} new, {len(report.changed_edges)} changed, "
            f"{len(report.stale_edges)} stale, {len(report.restored_edges)} restored edges"
        )
    if output:
        lines.append(f"  graph written to    {output}")
    lines.append(f"  took                {stats['seconds']:.2f} s")
    return "\n".join(lines)


def _clip(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
